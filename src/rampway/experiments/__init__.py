"""A/B experiments: arms of a feature served side by side, analysed over the event log.

    definition = load_definition(root / "experiments" / "friendlier-tone.yaml")
    record = repo.start(store, "friendlier-tone", definition, release_ids, actor="ana",
                        reason="tone test", now=time.time())
    ActiveExperiments.load(store).choose("support-bot", "user-42")   # ('friendly', '…@9c1e')
    repo.stop(store, record, actor="ana", reason="enough data", now=time.time())

Rooms:

    model        ExperimentRecord / Arm / Guardrail: what a started experiment is (plain data)
    spec         `experiments/<name>.yaml` → a validated Definition (file:line errors)
    tables       the `experiments` table (Alembic `experiments_0001`)
    repo         start / stop (audited, control-version bump), reads, the rule shared with
                 rollouts (one thing splits a feature's traffic at a time)
    allocations  what the gateway asks per request: `ActiveExperiments.choose(feature, unit)`
    metrics, extract, analysis, report   the analysis over the event log (statistics)
    rollup       each exposed unit's aggregates, kept by the event sink: what an analysis
                 reads instead of the window's requests when its metrics allow

Kept import-light: the gateway imports this package, so nothing here pulls in the statistics
(the analysis modules are imported by the commands that need them).
"""

from rampway.experiments.allocations import ActiveExperiments, ExperimentAllocation
from rampway.experiments.model import Arm, ExperimentRecord, Guardrail
from rampway.experiments.spec import Definition, load_definition, parse_definition

__all__ = [
    "ActiveExperiments",
    "Arm",
    "Definition",
    "ExperimentAllocation",
    "ExperimentRecord",
    "Guardrail",
    "load_definition",
    "parse_definition",
]
