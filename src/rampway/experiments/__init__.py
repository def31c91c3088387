"""A/B experiments: arms of a feature served side by side, analysed over the event log.

    definition   experiments/<name>.yaml → a validated Definition (spec)
    model        ExperimentRecord / Arm / Guardrail: what a started experiment is (plain data)

Kept import-light: the gateway imports this package on every start, so nothing here pulls in the
statistics (the analysis modules are imported by the commands that need them).
"""

from rampway.experiments.model import Arm, ExperimentRecord, Guardrail

__all__ = ["Arm", "ExperimentRecord", "Guardrail"]
