"""The pure state machine: what each look and each command does in each state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rampway.errors import ConfigError, StateConflict
from rampway.rollout import Action, Evaluation, Plan, Status
from rampway.rollout.state import Position, command, on_evaluation, start

PLAN = Plan.model_validate({"steps": [{"weight": 5, "dwell": "1h"},
                                      {"weight": 50, "dwell": "1h", "approval": True},
                                      {"weight": 100}]})
T = datetime(2026, 1, 1, tzinfo=UTC)


def ev(action: Action) -> Evaluation:
    return Evaluation(action, action.value, ())


def running(step: int = 0, weight: int = 500, started: datetime = T) -> Position:
    return Position(Status.RUNNING, step, weight, started)


def test_advance_only_after_dwell_and_all_pass() -> None:
    assert on_evaluation(PLAN, running(), ev(Action.PROCEED), T + timedelta(minutes=59)) is None
    later = T + timedelta(hours=1)
    assert on_evaluation(PLAN, running(), ev(Action.HOLD), later) is None
    t = on_evaluation(PLAN, running(), ev(Action.PROCEED), later)
    assert t is not None and t.kind == "await_approval" and t.status is Status.AWAITING_APPROVAL
    assert (t.step, t.weight_bp, t.new_step) == (1, 500, False)
    t = on_evaluation(PLAN, running(1, 5000), ev(Action.PROCEED), later)
    assert t is not None and t.kind == "complete" and t.weight_bp == 10000


def test_failures_roll_back_or_pause() -> None:
    t = on_evaluation(PLAN, running(), ev(Action.ROLLBACK), T)
    assert t is not None and t.status is Status.ROLLED_BACK and t.weight_bp == 0 and t.terminal
    t = on_evaluation(PLAN, running(), ev(Action.PAUSE), T)
    assert t is not None and t.status is Status.PAUSED and t.weight_bp == 500
    paused = Position(Status.PAUSED, 0, 500, T)
    assert on_evaluation(PLAN, paused, ev(Action.PAUSE), T) is None
    assert on_evaluation(PLAN, paused, ev(Action.PROCEED), T + timedelta(days=1)) is None
    t = on_evaluation(PLAN, paused, ev(Action.ROLLBACK), T)
    assert t is not None and t.status is Status.ROLLED_BACK
    done = Position(Status.COMPLETED, 2, 10000, T)
    assert on_evaluation(PLAN, done, ev(Action.ROLLBACK), T) is None


def test_start_and_commands() -> None:
    pending = Position(Status.PENDING, -1, 0, None)
    t = start(PLAN, pending)
    assert (t.kind, t.status, t.step, t.weight_bp, t.new_step) == (
        "start", Status.RUNNING, 0, 500, True)
    with pytest.raises(StateConflict, match="not pending"):
        start(PLAN, running())
    waiting = Position(Status.AWAITING_APPROVAL, 1, 500, T)
    t = command(PLAN, waiting, "approve", "ok")
    assert (t.status, t.step, t.weight_bp) == (Status.RUNNING, 1, 5000)
    t = command(PLAN, running(), "promote", "now")
    assert (t.status, t.weight_bp) == (Status.COMPLETED, 10000)
    t = command(PLAN, Position(Status.PAUSED, 0, 500, T), "resume", "go")
    assert t.status is Status.RUNNING and t.new_step
    with pytest.raises(StateConflict, match="already completed"):
        command(PLAN, Position(Status.COMPLETED, 2, 10000, T), "abort", "x")
    with pytest.raises(StateConflict, match="cannot resume: rollout is running"):
        command(PLAN, running(), "resume", "x")


@pytest.mark.parametrize("name", ["pause", "resume", "approve", "promote", "abort", "rollback"])
@pytest.mark.parametrize("status", [Status.COMPLETED, Status.ROLLED_BACK, Status.ABORTED])
def test_every_command_on_a_finished_rollout_is_a_state_conflict(
    name: str, status: Status
) -> None:
    with pytest.raises(StateConflict, match=f"already {status.value}; nothing to {name}"):
        command(PLAN, Position(status, 1, 0, T), name, "x")


def test_commands_that_do_not_fit_an_active_state_are_state_conflicts() -> None:
    paused = Position(Status.PAUSED, 0, 500, T)
    waiting = Position(Status.AWAITING_APPROVAL, 1, 500, T)
    refused = [(running(), "resume"), (running(), "approve"), (paused, "pause"),
               (paused, "approve"), (waiting, "pause"), (waiting, "resume")]
    for pos, name in refused:
        with pytest.raises(StateConflict, match=f"cannot {name}: rollout is {pos.status.value}"):
            command(PLAN, pos, name, "x")
    with pytest.raises(ConfigError, match="unknown rollout command") as info:
        command(PLAN, Position(Status.COMPLETED, 2, 10000, T), "explode", "x")
    assert not isinstance(info.value, StateConflict)  # bad input, whatever the state
