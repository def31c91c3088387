"""The release gate: compare baseline and candidate eval runs, apply a policy, report.

    data = compare(baseline_run, candidate_run, confidence=0.95)      # pure
    decision = decide(policy, data)                                    # pure
    decision.verdict                                                   # Verdict.PASS/FAIL/…
    report = await gate_feature(ctx, "support-bot", candidate="HEAD")  # I/O: evals both

`compare` and `decide` import no I/O; `run` does the evals; `report` renders md/json/junit;
`records` keeps every finished decision in the store (`latest_gate` is what rollouts check).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rampway.gate.compare import compare
    from rampway.gate.model import AxisEstimate, CaseChange, GateInput, Interval, Verdict
    from rampway.gate.policy import Decision, Policy, RuleOutcome, decide, default_policy
    from rampway.gate.records import GateRecord, get_gate, latest_gate, record_gate
    from rampway.gate.report import GateReport, render
    from rampway.gate.run import GateContext, changed_features, gate_feature, load_policy

# Loading the store discovers `rampway.gate.tables`, i.e. imports this package: keep that cheap
# (compare/run pull in numpy and scipy, a second of start-up for every CLI call and gateway).
_LAZY = {
    "compare": "compare",
    "AxisEstimate": "model", "CaseChange": "model", "GateInput": "model", "Interval": "model",
    "Verdict": "model",
    "Decision": "policy", "Policy": "policy", "RuleOutcome": "policy", "decide": "policy",
    "default_policy": "policy",
    "GateRecord": "records", "get_gate": "records", "latest_gate": "records",
    "record_gate": "records",
    "GateReport": "report", "render": "report",
    "GateContext": "run", "changed_features": "run", "gate_feature": "run", "load_policy": "run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rampway.gate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"rampway.gate.{module}"), name)


__all__ = [
    "AxisEstimate",
    "CaseChange",
    "Decision",
    "GateContext",
    "GateInput",
    "GateRecord",
    "GateReport",
    "Interval",
    "Policy",
    "RuleOutcome",
    "Verdict",
    "changed_features",
    "compare",
    "decide",
    "default_policy",
    "gate_feature",
    "get_gate",
    "latest_gate",
    "load_policy",
    "record_gate",
    "render",
]
