"""Staged rollouts: 1% → 100% that advances, pauses or rolls back by itself.

    plan = plan_for(project.root, "support-bot")            # rollouts/support-bot.yaml
    controller = Controller(store, notifier=Notifier(webhooks))
    controller.start("support-bot", "support-bot@9f1c", plan=plan, actor="ana")
    await controller.run()                                  # looks every interval

Rooms (deciding, applying and measuring are separate):

    plan        plan model + YAML loading (`rollouts/<feature>.yaml`)
    metrics     the guardrail metrics and where their values come from
    extract     guardrail samples per arm from the event log (I/O)
    judge       pure: samples + guardrail → PASS / FAIL / NO_DATA; all verdicts → one action
    state       pure: the state machine (pending → running k → … → completed | rolled_back)
    repo        rollout rows, compare-and-swap transitions, audit, control-version bump
    controller  the loop: look, judge, transition, announce; humans' commands
    notify      webhooks (JSON and Slack), sent off the transition path
    allocations what the gateway asks per request: `ActiveAllocations.choose(feature, unit)`
"""

from rampway.rollout.allocations import ActiveAllocations, Arm, RolloutAllocation
from rampway.rollout.controller import Controller
from rampway.rollout.judge import Action, Evaluation, GuardrailResult, Verdict, aggregate, judge
from rampway.rollout.notify import Notice, Notifier
from rampway.rollout.plan import Guardrail, Margin, Plan, Step, Webhook, load_plan, plan_for
from rampway.rollout.repo import RolloutRecord
from rampway.rollout.state import Status

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
    "Status",
    "Step",
    "Verdict",
    "Webhook",
    "aggregate",
    "judge",
    "load_plan",
    "plan_for",
]
