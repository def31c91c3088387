"""Staged rollouts: 1% → 100% that advances, pauses or rolls back by itself.

    plan = plan_for(project.root, "support-bot")            # rollouts/support-bot.yaml
    controller = Controller(store, notifier=Notifier(webhooks))
    controller.start("support-bot", "support-bot@9f1c", plan=plan, actor="ana")
    await controller.run()                                  # looks every interval

Rooms (deciding, applying and measuring are separate):

    plan        plan model + YAML loading (`rollouts/<feature>.yaml`)
    metrics     the guardrail metrics and where their values come from
    extract     guardrail samples per arm from the event log (I/O)
    _judge      pure: samples + guardrail → PASS / FAIL / NO_DATA, and the SRM check
                (numpy/scipy, imported lazily)
    verdicts    verdict types and their aggregation into one action (plain data)
    state       pure: the state machine (pending → running k → … → completed | rolled_back)
    repo        rollout rows, compare-and-swap transitions, audit, control-version bump
    controller  the loop: look, judge, transition, announce; humans' commands
    notify      webhooks (JSON and Slack), sent off the transition path
    allocations what the gateway asks per request: `ActiveAllocations.choose(feature, unit)`
    views       a rollout as JSON, one shape for the CLI and the admin API
"""

from typing import TYPE_CHECKING, Any

from rampway.rollout.allocations import ActiveAllocations, Arm, RolloutAllocation
from rampway.rollout.notify import Notice, Notifier
from rampway.rollout.plan import (
    Guardrail,
    Margin,
    Plan,
    SampleRatioCheck,
    Step,
    Webhook,
    load_plan,
    plan_for,
)
from rampway.rollout.repo import RolloutRecord
from rampway.rollout.state import Status
from rampway.rollout.verdicts import (
    Action,
    Evaluation,
    GuardrailResult,
    SampleRatio,
    Verdict,
    aggregate,
)

if TYPE_CHECKING:
    from rampway.rollout._judge import judge
    from rampway.rollout.controller import Controller

# The judge needs numpy/scipy (a second to import); the gateway only needs `ActiveAllocations`.
_LAZY = {"Controller": "rampway.rollout.controller", "judge": "rampway.rollout._judge"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rampway.rollout' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Action",
    "ActiveAllocations",
    "Arm",
    "Controller",
    "Evaluation",
    "Guardrail",
    "GuardrailResult",
    "Margin",
    "Notice",
    "Notifier",
    "Plan",
    "RolloutAllocation",
    "RolloutRecord",
    "SampleRatio",
    "SampleRatioCheck",
    "Status",
    "Step",
    "Verdict",
    "Webhook",
    "aggregate",
    "judge",
    "load_plan",
    "plan_for",
]
