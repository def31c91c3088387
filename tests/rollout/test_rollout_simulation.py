"""Time-compressed rollouts on both databases: traffic written into the event log minute by
minute (assignment through the real allocations), the controller looking every minute."""

from __future__ import annotations

import pytest
from rollout_helpers import (
    FEATURE,
    PROVABLE,
    FakeClock,
    Profile,
    Simulation,
    gated_pair,
    plan,
)

from rampway.rollout import Controller, Status
from rampway.store import Store


def _sim(store: Store, candidate: Profile, per_minute: int = 3000, **plan_kw: object) -> Simulation:
    baseline_id, candidate_id = gated_pair(store)
    clock = FakeClock()
    controller = Controller(store, clock=clock)
    controller.start(FEATURE, candidate_id, plan=plan(**plan_kw), actor="ana")
    return Simulation(store, controller, clock, {"baseline": baseline_id,
                      "candidate": candidate_id}, {"baseline": Profile(),
                      "candidate": candidate}, per_minute=per_minute)


@pytest.mark.slow
def test_good_candidate_walks_to_100_percent_sticky_and_moves_production(store: Store) -> None:
    sim = _sim(store, Profile(), per_minute=1500, guardrails=PROVABLE)
    sim.units = 3000
    done = sim.run(60)
    assert done.status is Status.COMPLETED
    weights = [w for _, status, w in sim.history if status == "running"]
    assert sorted(set(weights)) == [500, 2500, 5000]
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None and channel.release_id == sim.releases["candidate"]
    actions = [e.action for e in reversed(store.list_audit(object_type="rollout"))]
    assert actions == ["rollout.create", "rollout.start", "rollout.advance", "rollout.advance",
                       "rollout.complete"]
    advance = store.list_audit(object_type="rollout")[1]
    assert advance.after["evidence"]["action"] == "proceed"
    assert {g["verdict"] for g in advance.after["evidence"]["guardrails"]} == {"pass"}
    # sticky: while the weight grew 5% → 25% → 50%, units only ever moved baseline → candidate
    assert sim.switches and set(sim.switches) == {("baseline", "candidate")}
    candidates = [u for u, arms in sim.arms_seen.items() if "candidate" in arms]
    assert 0.4 < len(candidates) / len(sim.arms_seen) < 0.6  # ~50% at the last judged step


def test_doubled_error_rate_is_rolled_back_early_and_production_untouched(store: Store) -> None:
    sim = _sim(store, Profile(error_p=0.10))
    done = sim.run(60)
    assert done.status is Status.ROLLED_BACK
    assert done.weight_bp == 0 and done.step <= 1
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None and channel.release_id == sim.releases["baseline"]
    last = store.list_audit(object_type="rollout")[0]
    assert last.action == "rollout.rollback"
    failed = [g for g in last.after["evidence"]["guardrails"] if g["verdict"] == "fail"]
    assert [g["metric"] for g in failed] == ["error_rate"]
    assert failed[0]["lower"] > 0.2  # the relative increase is surely beyond the 20% margin


@pytest.mark.slow
def test_slower_p95_latency_is_rolled_back_early(store: Store) -> None:
    sim = _sim(store, Profile(latency_ms=800 * 1.4))
    done = sim.run(60)
    assert done.status is Status.ROLLED_BACK and done.step <= 1
    last = store.list_audit(object_type="rollout")[0]
    failed = [g["metric"] for g in last.after["evidence"]["guardrails"]
              if g["verdict"] == "fail"]
    assert failed == ["latency_p95"]


def test_too_little_traffic_holds_then_pauses_for_a_human_after_max_dwell(store: Store) -> None:
    sim = _sim(store, Profile(), per_minute=20)
    held = sim.run(59)
    assert held.status is Status.RUNNING and held.step == 0 and held.weight_bp == 500
    assert held.evaluation is not None and held.evaluation["action"] == "hold"
    actions = {e.action for e in store.list_audit(object_type="rollout")}
    assert actions == {"rollout.create", "rollout.start"}
    paused = sim.run(5, until="paused")  # the 10-minute step's default max_dwell is 1h
    assert paused.status is Status.PAUSED and paused.weight_bp == 500
    entry = store.list_audit(object_type="rollout")[0]
    assert entry.action == "rollout.pause" and "still undecided after 1h" in entry.reason
    assert "not enough data" in entry.reason
    assert entry.after["evidence"]["action"] == "hold"  # the evidence travels with it


def test_a_candidate_on_the_margin_is_never_advanced_on_not_proven_worse(store: Store) -> None:
    """Error rate 5% → 5.5% under a 10% relative margin: never shown worse, never shown
    within the margin either — the step holds, then a human decides (it used to advance)."""
    guard = [{"metric": "error_rate", "margin": {"relative": 0.1}, "critical": True,
              "min_sample": 200}]
    steps = [{"weight": 5, "dwell": "10m", "max_dwell": "20m"}, {"weight": 100}]
    sim = _sim(store, Profile(error_p=0.055), per_minute=1500, guardrails=guard, steps=steps)
    done = sim.run(30, until="paused")
    assert done.status is Status.PAUSED and done.weight_bp == 500
    verdicts = {g["verdict"] for g in done.evaluation["guardrails"]} if done.evaluation else set()
    entry = store.list_audit(object_type="rollout")[0]
    assert entry.action == "rollout.pause" and "not yet shown within the margin" in entry.reason
    assert "still undecided after 20m" in entry.reason
    assert {g["verdict"] for g in entry.after["evidence"]["guardrails"]} == {"inconclusive"}
    assert verdicts <= {"inconclusive"}


def test_a_broken_split_pauses_with_the_srm_evidence_and_never_rolls_back(store: Store) -> None:
    """The candidate arm gets twice its weight (assignment or logging broken): identical
    releases, every guardrail passes, and the rollout pauses on the sample ratio alone."""
    sim = _sim(store, Profile(), per_minute=1500, guardrails=PROVABLE)
    sim.skew = 2.0
    done = sim.run(30, until="paused")
    assert done.status is Status.PAUSED and done.weight_bp == 500 and done.step == 0
    entry = store.list_audit(object_type="rollout")[0]
    assert entry.action == "rollout.pause" and entry.reason.startswith("sample ratio mismatch")
    srm = entry.after["evidence"]["srm"]
    assert srm["verdict"] == "fail" and srm["counted"] == "units"
    assert srm["candidate_share"] == 0.05 and srm["p_value"] < srm["threshold"]
    share = srm["candidate"] / (srm["candidate"] + srm["baseline"])
    assert 0.08 < share < 0.12  # observed ~10% against the 5% expected
    assert srm["expected_candidate"] == pytest.approx(
        0.05 * (srm["candidate"] + srm["baseline"]))
    assert {g["verdict"] for g in entry.after["evidence"]["guardrails"]} <= {
        "pass", "inconclusive", "no_data"}
    assert "rollout.rollback" not in {e.action for e in store.list_audit(object_type="rollout")}


def test_a_plan_without_the_srm_check_ignores_the_split(store: Store) -> None:
    sim = _sim(store, Profile(), per_minute=1500, srm=False, guardrails=PROVABLE)
    sim.skew = 2.0
    for _ in range(20):
        sim.minute()
        if sim.rollout().weight_bp > 500:
            break
    advanced = sim.rollout()
    assert advanced.status is Status.RUNNING and advanced.weight_bp == 2500
    assert advanced.evaluation is not None and advanced.evaluation["srm"] is None


def test_feedback_sent_for_units_alone_drives_a_feedback_guardrail(store: Store) -> None:
    """Thumbs-up reported per user (no request id): a candidate users like less pauses."""
    guard = [{"metric": "error_rate", "critical": True, "min_sample": 100},
             {"metric": "feedback:thumbs_up", "bad": "decrease", "min_sample": 100,
              "margin": {"absolute": 0.05}}]
    sim = _sim(store, Profile(thumbs_up_p=0.4), per_minute=2000, guardrails=guard)
    sim.unit_feedback = True
    paused = sim.run(20, until="paused")
    assert paused.status is Status.PAUSED
    entry = store.list_audit(object_type="rollout")[0]
    assert entry.action == "rollout.pause" and "feedback:thumbs_up" in entry.reason
    [thumbs] = [g for g in entry.after["evidence"]["guardrails"]
                if g["metric"] == "feedback:thumbs_up"]
    assert thumbs["verdict"] == "fail" and thumbs["n_candidate"] >= 100
    assert thumbs["candidate_value"] < thumbs["baseline_value"]
