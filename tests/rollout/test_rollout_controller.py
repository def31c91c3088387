"""Controller and commands on both databases: bad input writes nothing, every command's
transition, approval steps, channel moved by hand, allocations seen by the gateway, and the
gate a start requires (a recorded PASS on exactly its pair, or an audited override)."""

from __future__ import annotations

import re

import pytest
from rollout_helpers import (
    FEATURE,
    FakeClock,
    Profile,
    Simulation,
    count_rows,
    gated_pair,
    plan,
    publish,
    publish_pair,
    record_verdict,
)

from rampway.errors import ConfigError, ConflictError, ReasonRequired, RefError, StateConflict
from rampway.rollout import ActiveAllocations, Controller, Status, repo
from rampway.rollout.tables import rollouts
from rampway.store import Store


def _started(store: Store, **plan_kw: object) -> tuple[Controller, FakeClock, str, str]:
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    controller = Controller(store, clock=clock)
    controller.start(FEATURE, candidate, plan=plan(**plan_kw), actor="ana", reason="ship v2")
    return controller, clock, baseline, candidate


def test_start_enters_the_first_step_and_gateways_see_it(store: Store) -> None:
    version = store.control_version()
    controller, _, baseline, candidate = _started(store)
    rollout = repo.active(store, FEATURE)
    assert rollout is not None and rollout.status is Status.RUNNING
    assert (rollout.step, rollout.weight_bp) == (0, 500)
    assert (rollout.candidate, rollout.baseline) == (candidate, baseline)
    assert store.control_version() >= version + 2  # create + start
    allocations = ActiveAllocations.load(store)
    arms = [allocations.choose(FEATURE, f"u{i}") for i in range(4000)]
    share = sum(a is not None and a[0] == "candidate" for a in arms) / len(arms)
    assert 0.03 < share < 0.07
    assert {a[1] for a in arms if a and a[0] == "candidate"} == {candidate}
    assert allocations.choose("other-feature", "u1") is None


def _nothing_written(store: Store, before: tuple[int, int, int]) -> None:
    assert (count_rows(store, rollouts), len(store.list_audit(limit=1000)),
            store.control_version()) == before


def _snapshot(store: Store) -> tuple[int, int, int]:
    return (count_rows(store, rollouts), len(store.list_audit(limit=1000)),
            store.control_version())


def test_bad_starts_are_refused_and_write_nothing(store: Store) -> None:
    baseline, candidate = gated_pair(store)
    controller = Controller(store, clock=FakeClock())
    before = _snapshot(store)
    with pytest.raises(ConfigError, match="already serves; nothing to roll out"):
        controller.start(FEATURE, baseline, plan=plan(), actor="ana")
    with pytest.raises(RefError):
        controller.start(FEATURE, "support-bot@ffffffff", plan=plan(), actor="ana")
    with pytest.raises(RefError, match="no 'canary' channel"):
        controller.start(FEATURE, candidate, plan=plan(baseline="canary"), actor="ana")
    _nothing_written(store, before)
    controller.start(FEATURE, candidate, plan=plan(), actor="ana")
    third = publish(store, FEATURE, "v3")
    before = _snapshot(store)
    with pytest.raises(StateConflict, match=r"already has an active rollout \(#1, running at 5%\)"):
        controller.start(FEATURE, third, plan=plan(), actor="bob")
    _nothing_written(store, before)


def test_start_needs_the_newest_gate_on_exactly_its_pair_to_pass(store: Store) -> None:
    baseline, candidate = publish_pair(store)
    controller = Controller(store, clock=FakeClock())
    before = _snapshot(store)
    command = f"rampway gate {FEATURE} --candidate {candidate} --baseline {baseline}"
    with pytest.raises(ConfigError, match=re.escape(f"no recorded gate against 'production' "
                                                    f"({baseline}): run `{command}` first")):
        controller.start(FEATURE, candidate, plan=plan(), actor="ana")
    record_verdict(store, baseline, candidate)  # the pair reversed does not count
    passed = record_verdict(store, candidate, baseline)
    record_verdict(store, candidate, baseline, "inconclusive")
    with pytest.raises(ConfigError, match=r"is INCONCLUSIVE \(#3, .*a rollout needs a PASS"):
        controller.start(FEATURE, candidate, plan=plan(), actor="ana")
    with pytest.raises(ConfigError, match="skipping the gate needs a reason"):
        controller.start(FEATURE, candidate, plan=plan(), actor="ana", skip_gate=True,
                         reason=" ")
    _nothing_written(store, before)
    again = record_verdict(store, candidate, baseline)
    started = controller.start(FEATURE, candidate, plan=plan(), actor="ana")
    assert started.gate is not None and started.gate["id"] == again.id != passed.id
    assert started.gate == {"skipped": False, **again.brief()}
    create = store.list_audit(object_type="rollout")[-1]
    assert create.action == "rollout.create" and create.after["gate"] == started.gate


def test_the_gate_is_against_the_plans_baseline_channel(store: Store) -> None:
    production, candidate = gated_pair(store)
    canary = publish(store, FEATURE, "v1.5")
    store.set_channel(FEATURE, "canary", canary, actor="test", reason="canary")
    controller = Controller(store, clock=FakeClock())
    with pytest.raises(ConfigError, match=f"against 'canary' \\({canary}\\)"):
        controller.start(FEATURE, candidate, plan=plan(baseline="canary"), actor="ana")
    record_verdict(store, candidate, canary)
    started = controller.start(FEATURE, candidate, plan=plan(baseline="canary"), actor="ana")
    assert (started.baseline, started.gate["baseline"]) == (canary, canary)  # type: ignore[index]
    assert production != canary


def test_skip_gate_is_kept_on_the_rollout_and_audited(store: Store) -> None:
    _, candidate = publish_pair(store)
    controller = Controller(store, clock=FakeClock())
    started = controller.start(FEATURE, candidate, plan=plan(), actor="ana", skip_gate=True,
                               reason="gate infra is down, P0 fix")
    assert started.status is Status.RUNNING
    assert started.gate == {"skipped": True, "reason": "gate infra is down, P0 fix",
                            "latest": None}
    entries = list(reversed(store.list_audit(object_type="rollout")))
    assert [e.action for e in entries] == ["rollout.create", "rollout.gate_skipped",
                                           "rollout.start"]
    assert (entries[1].actor, entries[1].reason) == ("ana", "gate infra is down, P0 fix")
    assert entries[1].object_id == started.ref and entries[1].after == started.gate


def test_database_refuses_a_second_active_rollout_even_past_the_check(store: Store) -> None:
    _, candidate = gated_pair(store)
    controller = Controller(store, clock=FakeClock())
    controller.start(FEATURE, candidate, plan=plan(), actor="ana")
    rollout = repo.active(store, FEATURE)
    assert rollout is not None
    with pytest.raises(StateConflict, match="already has an active rollout"):
        repo.create(store, feature=FEATURE, candidate=candidate, baseline=rollout.baseline,
                    baseline_channel="production", plan=plan(), actor="x",
                    now=controller.now(), reason="race")


def test_pause_resume_promote_moves_production(store: Store) -> None:
    controller, _, _, candidate = _started(store)
    paused = controller.command(FEATURE, "pause", actor="bob", reason="looking into tickets")
    assert paused.status is Status.PAUSED and paused.weight_bp == 500
    with pytest.raises(StateConflict, match="cannot pause: rollout is paused"):
        controller.command(FEATURE, "pause", actor="bob", reason="again")
    with pytest.raises(StateConflict, match="cannot approve"):
        controller.command(FEATURE, "approve", actor="bob", reason="x")
    resumed = controller.command(FEATURE, "resume", actor="bob", reason="false alarm")
    assert resumed.status is Status.RUNNING
    done = controller.command(FEATURE, "promote", actor="bob", reason="urgent fix")
    assert done.status is Status.COMPLETED and done.weight_bp == 10000
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None and channel.release_id == candidate
    assert channel.version == 2
    moves = store.channel_history(FEATURE, "production")
    assert moves[0].reason.startswith("rollout support-bot#1 completed: urgent fix")
    assert ActiveAllocations.load(store).choose(FEATURE, "u1") is None
    with pytest.raises(StateConflict, match="has no active rollout: its latest, #1, is "
                       "already completed; nothing to abort"):
        controller.command(FEATURE, "abort", actor="bob", reason="too late")
    done_version = repo.get(store, 1).version
    with pytest.raises(StateConflict, match="already completed"):  # If-Match of what it is
        controller.command(FEATURE, "abort", actor="bob", reason="x",
                           expected_version=done_version)
    with pytest.raises(ConflictError, match="changed since you read it"):  # moved since
        controller.command(FEATURE, "abort", actor="bob", reason="x",
                           expected_version=done_version - 1)
    actions = [e.action for e in reversed(store.list_audit(object_type="rollout"))]
    assert actions == ["rollout.create", "rollout.start", "rollout.pause", "rollout.resume",
                       "rollout.complete"]


@pytest.mark.parametrize(("name", "status"), [("abort", Status.ABORTED),
                                              ("rollback", Status.ROLLED_BACK)])
def test_abort_and_rollback_leave_production_untouched(
    store: Store, name: str, status: Status
) -> None:
    controller, _, baseline, _ = _started(store)
    done = controller.command(FEATURE, name, actor="bob", reason="not today")
    assert done.status is status and done.weight_bp == 0 and done.finished_at is not None
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None and channel.release_id == baseline and channel.version == 1
    assert ActiveAllocations.load(store).choose(FEATURE, "u1") is None
    entry = store.list_audit(object_type="rollout")[0]
    assert entry.action == f"rollout.{name}" and entry.actor == "bob"
    assert entry.before["status"] == "running" and entry.after["status"] == status.value
    with pytest.raises(ReasonRequired, match="rollout pause needs a reason"):
        controller.command(FEATURE, "pause", actor="bob", reason=" ")


def test_unknown_command_and_stale_command(store: Store) -> None:
    controller, _, _, _ = _started(store)
    with pytest.raises(RefError, match="feature 'echo' has no rollouts"):
        controller.command("echo", "pause", actor="bob", reason="x")
    with pytest.raises(ConfigError, match="unknown rollout command 'explode'"):
        controller.command(FEATURE, "explode", actor="bob", reason="x")
    rollout = repo.active(store, FEATURE)
    assert rollout is not None
    controller.command(FEATURE, "pause", actor="bob", reason="first")
    from rampway.rollout import state

    stale = state.command(rollout.plan, rollout.position, "abort", "second")
    assert repo.apply(store, rollout, stale, actor="eve", now=controller.now()) is None
    assert repo.active(store, FEATURE) is not None  # the stale abort wrote nothing


def test_approval_step_waits_for_a_human(store: Store) -> None:
    steps = [{"weight": 5, "dwell": "2m"}, {"weight": 50, "dwell": "2m", "approval": True},
             {"weight": 100, "approval": True}]
    guard = [{"metric": "error_rate", "critical": True, "min_sample": 20,
              "margin": {"absolute": 0.05}}]
    controller, clock, baseline, candidate = _started(store, steps=steps, guardrails=guard)
    sim = Simulation(store, controller, clock, {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile()}, per_minute=800)
    waiting = sim.run(8, until="awaiting_approval")
    assert waiting.status is Status.AWAITING_APPROVAL
    assert (waiting.step, waiting.weight_bp) == (1, 500)  # waits to enter 50%, still at 5%
    running = controller.command(FEATURE, "approve", actor="lead", reason="numbers look fine")
    assert running.status is Status.RUNNING and running.weight_bp == 5000
    assert sim.run(8, until="awaiting_approval").status is Status.AWAITING_APPROVAL
    done = controller.command(FEATURE, "approve", actor="lead", reason="go")
    assert done.status is Status.COMPLETED
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None and channel.release_id == candidate


def test_critical_failure_rolls_back_even_while_paused(store: Store) -> None:
    guard = [{"metric": "error_rate", "critical": True, "min_sample": 100,
              "margin": {"relative": 0.2}}]
    controller, clock, baseline, candidate = _started(store, guardrails=guard)
    controller.command(FEATURE, "pause", actor="bob", reason="hold on")
    sim = Simulation(store, controller, clock, {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(error_p=0.05), "candidate": Profile(error_p=0.3)},
                     per_minute=2000)
    done = sim.run(20)
    assert done.status is Status.ROLLED_BACK


def test_non_critical_failure_pauses_and_resume_restarts_the_window(store: Store) -> None:
    guard = [{"metric": "error_rate", "critical": True, "min_sample": 100},
             {"metric": "output_length", "min_sample": 100, "margin": {"relative": 0.1}}]
    controller, clock, baseline, candidate = _started(store, guardrails=guard)
    sim = Simulation(store, controller, clock, {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile(tokens=200)}, per_minute=2000)
    paused = sim.run(20, until="paused")
    assert paused.status is Status.PAUSED and paused.weight_bp == 500
    entry = store.list_audit(object_type="rollout")[0]
    assert entry.action == "rollout.pause" and "output_length" in entry.reason
    resumed = controller.command(FEATURE, "resume", actor="bob", reason="longer is fine")
    assert resumed.step_started_at == controller.now()


def test_production_moved_by_hand(store: Store) -> None:
    controller, _, _, candidate = _started(store)
    other = publish(store, FEATURE, "v3")
    store.set_channel(FEATURE, "production", other, actor="ops", reason="hotfix")
    controller.tick()
    paused = repo.active(store, FEATURE)
    assert paused is not None and paused.status is Status.PAUSED
    assert "comparison baseline is gone" in paused.reason
    store.set_channel(FEATURE, "production", candidate, actor="ops", reason="ship it")
    controller.tick()
    done = repo.latest(store, FEATURE)
    assert done is not None and done.status is Status.COMPLETED
    assert store.get_channel(FEATURE, "production").version == 3  # type: ignore[union-attr]


def test_controller_rejects_a_bad_interval(store: Store) -> None:
    with pytest.raises(ConfigError, match="interval"):
        Controller(store, interval=0)

