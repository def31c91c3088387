"""The rollout state machine, as pure functions: (state, plan, evaluation, now) → transition.

    pending ──start──▶ running k ──advance──▶ running k+1 … ──complete──▶ completed
                         │  ▲                   │
                  pause  │  │ resume            └─await_approval─▶ awaiting_approval ─approve─▶
                         ▼  │
                        paused        any active state ──rollback──▶ rolled_back
                                      any active state ──abort─────▶ aborted

Rules the controller applies at every look (see `on_evaluation`):

* a critical guardrail failure rolls back from any active state (a paused or waiting rollout
  still serves the candidate at its current weight, so it stays protected);
* while running, a non-critical failure pauses (a human resumes or rolls back), missing data
  or an undecided guardrail holds, and "all pass" advances once the step's dwell time has
  passed; a step still holding after its `max_dwell` pauses for a human with the evidence;
* entering a step marked `approval: true` waits for `approve` first; entering the 100% step
  completes the rollout (the caller then moves the baseline channel to the candidate).

Resuming restarts the step's clock and data window: the old window is what made it pause.

A command the current state rules out (resume a running rollout, abort a finished one) raises
`StateConflict` (HTTP 409 in the admin API); an unknown command is plain bad input (ConfigError).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rampway.assign import BUCKETS
from rampway.errors import ConfigError, StateConflict
from rampway.rollout.plan import Plan
from rampway.rollout.verdicts import Action, Evaluation


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    @property
    def active(self) -> bool:
        return self in ACTIVE


ACTIVE = frozenset({Status.PENDING, Status.RUNNING, Status.PAUSED, Status.AWAITING_APPROVAL})
COMMANDS = ("pause", "resume", "approve", "promote", "abort", "rollback")


@dataclass(frozen=True, slots=True)
class Position:
    """The part of a rollout's state the machine reads."""

    status: Status
    step: int  # -1 while pending
    weight_bp: int
    step_started_at: datetime | None


@dataclass(frozen=True, slots=True)
class Transition:
    """What to write. `kind` names the event (audit action, webhook event)."""

    kind: str
    status: Status
    step: int
    weight_bp: int
    reason: str
    new_step: bool = False  # restart the step's clock and data window

    @property
    def terminal(self) -> bool:
        return not self.status.active


def enter_step(plan: Plan, pos: Position, k: int, kind: str, reason: str,
               *, approved: bool = False) -> Transition:
    """Move into step `k`: wait for approval, complete at 100%, or run it."""
    step = plan.steps[k]
    if step.approval and not approved:
        return Transition("await_approval", Status.AWAITING_APPROVAL, k, pos.weight_bp,
                          f"step {k + 1} ({step.weight:g}%) needs approval; {reason}")
    if step.weight_bp >= BUCKETS:
        return Transition("complete", Status.COMPLETED, k, BUCKETS, reason, new_step=True)
    return Transition(kind, Status.RUNNING, k, step.weight_bp, reason, new_step=True)


def start(plan: Plan, pos: Position) -> Transition:
    """pending → the first step."""
    if pos.status is not Status.PENDING:
        raise StateConflict(f"rollout is {pos.status.value}, not pending")
    return enter_step(plan, pos, 0, "start", "rollout started")


def dwell_elapsed(plan: Plan, pos: Position, now: datetime) -> bool:
    if pos.step_started_at is None or pos.step < 0:
        return False
    return (now - pos.step_started_at).total_seconds() >= plan.steps[pos.step].dwell


def on_evaluation(
    plan: Plan, pos: Position, evaluation: Evaluation, now: datetime
) -> Transition | None:
    """The transition a look at the guardrails calls for, or None to stay put."""
    if not pos.status.active or pos.status is Status.PENDING:
        return None
    if evaluation.action is Action.ROLLBACK:
        return Transition("rollback", Status.ROLLED_BACK, pos.step, 0, evaluation.reason)
    if pos.status is not Status.RUNNING:
        return None
    if evaluation.action is Action.PAUSE:
        return Transition("pause", Status.PAUSED, pos.step, pos.weight_bp, evaluation.reason)
    step = plan.steps[pos.step]
    if evaluation.action is Action.PROCEED and dwell_elapsed(plan, pos, now):
        reason = f"{step.weight:g}% held for {_duration(step.dwell)} and all guardrails pass"
        return enter_step(plan, pos, pos.step + 1, "advance", reason)
    if evaluation.action is Action.HOLD and _elapsed(pos, now) >= step.dwell_limit:
        reason = (f"step {pos.step + 1} ({step.weight:g}%) still undecided after "
                  f"{_duration(step.dwell_limit)}, a human decides: {evaluation.reason}")
        return Transition("pause", Status.PAUSED, pos.step, pos.weight_bp, reason)
    return None


def _elapsed(pos: Position, now: datetime) -> float:
    if pos.step_started_at is None:
        return 0.0
    return (now - pos.step_started_at).total_seconds()


def check_command(name: str) -> None:
    """ConfigError unless `name` is one of COMMANDS."""
    if name not in COMMANDS:
        raise ConfigError(f"unknown rollout command {name!r} (known: {', '.join(COMMANDS)})")


def command(plan: Plan, pos: Position, name: str, reason: str) -> Transition:
    """A human's command; StateConflict when the current state rules it out."""
    check_command(name)
    if not pos.status.active:
        raise StateConflict(f"rollout is already {pos.status.value}; nothing to {name}")
    allowed = {
        "pause": {Status.RUNNING},
        "resume": {Status.PAUSED},
        "approve": {Status.AWAITING_APPROVAL},
    }.get(name)
    if allowed is not None and pos.status not in allowed:
        wanted = " or ".join(s.value for s in sorted(allowed))
        raise StateConflict(f"cannot {name}: rollout is {pos.status.value}, not {wanted}")
    if name == "pause":
        return Transition("pause", Status.PAUSED, pos.step, pos.weight_bp, reason)
    if name == "resume":
        return Transition("resume", Status.RUNNING, pos.step, pos.weight_bp, reason,
                          new_step=True)
    if name == "approve":
        return enter_step(plan, pos, pos.step, "approve", reason, approved=True)
    if name == "promote":
        return Transition("complete", Status.COMPLETED, len(plan.steps) - 1, BUCKETS, reason)
    if name == "abort":
        return Transition("abort", Status.ABORTED, pos.step, 0, reason)
    return Transition("rollback", Status.ROLLED_BACK, pos.step, 0, reason)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


__all__ = [
    "ACTIVE",
    "COMMANDS",
    "Position",
    "Status",
    "Transition",
    "check_command",
    "command",
    "dwell_elapsed",
    "enter_step",
    "on_evaluation",
    "start",
]
