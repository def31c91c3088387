"""Model lifecycle: deprecation → upgrade candidate → re-eval, and provider drift.

    plan = plan_upgrade(release, catalog, kinds, today=today, horizon=horizon)   # pure
    write_candidate(plan, Path("upgrades/support-bot"))                         # release files
    store_draft(store, plan, actor="ana")                                       # draft + audit

`upgrade` decides (no I/O); `candidate` writes files and the store. `flagmodels` finds models
named in flags (for `rampway models check`); `drift` reads what providers report answering
(`request_events.served_model`) and `watch` audits and announces a change (`models watch`);
`reeval` decides which production releases to re-gate (drift, catalog change, deprecation) and
records it; `migration` is the pure core of `rampway models plan`.
"""

from rampway.lifecycle.candidate import (
    production_release,
    store_draft,
    transition_flags,
    upgrade_note,
    write_candidate,
)
from rampway.lifecycle.upgrade import ParamChange, Swap, UpgradePlan, plan_upgrade

__all__ = [
    "ParamChange",
    "Swap",
    "UpgradePlan",
    "plan_upgrade",
    "production_release",
    "store_draft",
    "transition_flags",
    "upgrade_note",
    "write_candidate",
]
