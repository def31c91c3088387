"""The pure judge: verdicts per guardrail kind, aggregation, the A/A false-alarm rate, and the
sample-ratio-mismatch check (evidence, minimum data, A/A false mismatches)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampway.assign import Allocation
from rampway.rollout import Action, Guardrail, Plan, SampleRatioCheck, Verdict, aggregate, judge
from rampway.rollout._judge import judge_srm

ALPHA = 0.01


def g(metric: str, **kw: object) -> Guardrail:
    return Guardrail.model_validate({"metric": metric, "min_sample": 50, **kw})


def rates(p: float, n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_doubled_error_rate_fails_with_relative_margin() -> None:
    r = judge(rates(0.05, 20000, 1), rates(0.10, 3000, 2),
              g("error_rate", margin={"relative": 0.2}), alpha=ALPHA)
    assert r.verdict is Verdict.FAIL
    assert r.scale == "relative" and r.limit == pytest.approx(0.2)
    assert r.lower > 0.2 and r.estimate == pytest.approx(r.candidate_value / r.baseline_value - 1)
    assert (r.n_baseline, r.n_candidate) == (20000, 3000)


def test_equal_error_rates_pass_once_the_interval_is_inside_the_margin() -> None:
    guard = g("error_rate", margin={"relative": 0.2})
    early = judge(rates(0.05, 5000, 1), rates(0.05, 500, 2), guard, alpha=ALPHA)
    assert early.verdict is Verdict.INCONCLUSIVE  # not shown worse, not shown within 20% either
    assert early.lower < 0.2 < early.upper
    r = judge(rates(0.05, 200000, 1), rates(0.05, 60000, 2), guard, alpha=ALPHA)
    assert r.verdict is Verdict.PASS and r.upper <= 0.2


def test_increase_within_the_margin_passes() -> None:
    # +10% errors with a tolerated +50%: passes even with a lot of data
    r = judge(rates(0.10, 200000, 1), rates(0.11, 200000, 2),
              g("error_rate", margin={"relative": 0.5}), alpha=ALPHA)
    assert r.verdict is Verdict.PASS


def test_too_few_observations_is_no_data_never_pass() -> None:
    r = judge(rates(0.05, 20000), rates(0.5, 49), g("error_rate"), alpha=ALPHA)
    assert r.verdict is Verdict.NO_DATA
    r = judge([], [], g("latency_p95"), alpha=ALPHA)
    assert r.verdict is Verdict.NO_DATA and math.isnan(r.baseline_value)


def test_zero_baseline_errors_still_decides_on_the_absolute_scale() -> None:
    r = judge(np.zeros(5000), rates(0.2, 1000), g("error_rate"), alpha=ALPHA)
    assert r.verdict is Verdict.FAIL and r.scale == "absolute"
    r = judge(np.zeros(5000), np.zeros(1000), g("error_rate"), alpha=ALPHA)
    assert r.verdict is Verdict.PASS


def test_absolute_margin_on_a_feedback_rate_that_must_not_decrease() -> None:
    guard = g("feedback:thumbs_up", bad="decrease", margin={"absolute": 0.05})
    worse = judge(rates(0.7, 20000, 1), rates(0.55, 4000, 2), guard, alpha=ALPHA)
    assert worse.verdict is Verdict.FAIL and worse.upper < -0.05 and worse.limit == -0.05
    better = judge(rates(0.7, 20000, 1), rates(0.8, 4000, 2), guard, alpha=ALPHA)
    assert better.verdict is Verdict.PASS
    slightly = judge(rates(0.7, 20000, 1), rates(0.68, 20000, 2), guard, alpha=ALPHA)
    assert slightly.verdict is Verdict.PASS  # shown to be within the 5-point margin
    near = judge(rates(0.7, 20000, 1), rates(0.66, 4000, 2), guard, alpha=ALPHA)
    assert near.verdict is Verdict.INCONCLUSIVE and near.lower < -0.05 < near.upper


def test_p95_latency_forty_percent_slower_fails_and_same_passes() -> None:
    rng = np.random.default_rng(3)
    base = 800 * np.exp(0.5 * rng.standard_normal(30000))
    same = 800 * np.exp(0.5 * rng.standard_normal(3000))
    guard = g("latency_p95", margin={"relative": 0.2})
    slow = judge(base, same * 1.4, guard, alpha=ALPHA)
    assert slow.verdict is Verdict.FAIL and slow.scale == "exceedance" and slow.lower > 0
    assert slow.candidate_value / slow.baseline_value == pytest.approx(1.4, rel=0.1)
    assert judge(base, same, guard, alpha=ALPHA).verdict is Verdict.PASS
    assert judge(base, same * 1.1, guard, alpha=ALPHA).verdict is Verdict.PASS  # within 20%


def test_p50_latency_decrease_guardrail_and_absolute_margin() -> None:
    rng = np.random.default_rng(4)
    base = 100 + 10 * rng.standard_normal(20000)
    guard = g("output_length", bad="decrease", margin={"absolute": 5})
    assert judge(base, base[:3000] - 20, guard, alpha=ALPHA).verdict is Verdict.FAIL
    assert judge(base, base[:3000] - 2, guard, alpha=ALPHA).verdict is Verdict.PASS
    p50 = g("latency_p50", bad="decrease", margin={"absolute": 5})
    assert judge(base, base[:3000] - 20, p50, alpha=ALPHA).verdict is Verdict.FAIL
    assert judge(base, base[:3000], p50, alpha=ALPHA).verdict is Verdict.PASS


def test_invalid_samples_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="finite"):
        judge([1.0, math.nan], [1.0], g("cost_per_request"), alpha=ALPHA)


def test_aggregation_critical_fail_rolls_back_other_fail_pauses_undecided_holds() -> None:
    bad = rates(0.5, 1000)
    ok = rates(0.05, 1000)
    crit = judge(ok, bad, g("error_rate", critical=True), alpha=ALPHA)
    soft = judge(ok, bad, g("refusal_rate"), alpha=ALPHA)
    none = judge(ok, bad[:10], g("fallback_rate"), alpha=ALPHA)
    unsure = judge(ok, rates(0.05, 1000, 3), g("error_rate"), alpha=ALPHA)
    fine = judge(np.full(1000, 0.002), np.full(800, 0.002), g("cost_per_request"), alpha=ALPHA)
    assert (unsure.verdict, fine.verdict) == (Verdict.INCONCLUSIVE, Verdict.PASS)
    assert aggregate([fine, none, soft, crit]).action is Action.ROLLBACK
    assert "error_rate" in aggregate([fine, none, soft, crit]).reason
    assert aggregate([fine, none, soft]).action is Action.PAUSE
    assert aggregate([fine, none]).action is Action.HOLD
    held = aggregate([fine, unsure])
    assert held.action is Action.HOLD and "not yet shown within the margin" in held.reason
    assert aggregate([fine]).action is Action.PROCEED
    doc = aggregate([fine, none]).as_dict()
    assert doc["action"] == "hold" and doc["guardrails"][1]["verdict"] == "no_data"


# -- A/A: identical arms, the judge looking every simulated minute ------------------------

AA_PLAN = Plan.model_validate({
    "alpha": 0.05,
    "steps": [{"weight": 5, "dwell": "15m"}, {"weight": 25, "dwell": "15m"},
              {"weight": 50, "dwell": "15m"}, {"weight": 100}],
    "guardrails": [
        {"metric": "error_rate", "margin": {"relative": 0}, "critical": True, "min_sample": 100},
        {"metric": "latency_p95", "margin": {"relative": 0}, "critical": True,
         "min_sample": 100},
    ],
})


def _rolls_back(rng: np.random.Generator, per_minute: int, minutes: int,
                candidate_error: float = 0.05) -> bool:
    """One simulated rollout; True when any look at any step calls for a rollback."""
    alpha = AA_PLAN.guardrail_alpha()
    errors_g, latency_g = AA_PLAN.guardrails
    for step in AA_PLAN.steps[:-1]:
        n = per_minute * minutes
        arm = rng.random(n) < step.weight / 100
        p = np.where(arm, candidate_error, 0.05)
        err = (rng.random(n) < p).astype(float)
        lat = 800 * np.exp(0.5 * rng.standard_normal(n))
        b_err, c_err, b_lat, c_lat = err[~arm], err[arm], lat[~arm], lat[arm]
        nb, nc = np.cumsum(~arm), np.cumsum(arm)
        for minute in range(1, minutes + 1):
            m = minute * per_minute - 1
            kb, kc = int(nb[m]), int(nc[m])
            looks = [judge(b_err[:kb], c_err[:kc], errors_g, alpha=alpha),
                     judge(b_lat[:kb], c_lat[:kc], latency_g, alpha=alpha)]
            if aggregate(looks).action is Action.ROLLBACK:
                return True
    return False


@pytest.mark.slow
def test_aa_500_rollouts_looking_every_minute_roll_back_at_most_alpha() -> None:
    rng = np.random.default_rng(20260101)
    rollbacks = sum(_rolls_back(rng, per_minute=300, minutes=15) for _ in range(500))
    assert rollbacks / 500 <= AA_PLAN.alpha, rollbacks


def test_the_same_harness_catches_a_doubled_error_rate() -> None:
    rng = np.random.default_rng(7)
    caught = sum(_rolls_back(rng, 300, 15, candidate_error=0.10) for _ in range(20))
    assert caught >= 18


# -- sample ratio mismatch ----------------------------------------------------------------

SRM = SampleRatioCheck()


def test_a_candidate_with_twice_its_share_is_a_mismatch_with_evidence() -> None:
    r = judge_srm(9_500, 1_000, 500, SRM, decisive=True)
    assert r is not None and r.verdict is Verdict.FAIL
    assert (r.baseline, r.candidate, r.counted) == (9_500, 1_000, "units")
    assert (r.expected_baseline, r.expected_candidate) == pytest.approx((9_975, 525))
    assert r.candidate_share == 0.05 and r.threshold == 0.001 and r.p_value < 1e-50
    doc = r.as_dict()
    assert doc["verdict"] == "fail" and doc["p_value"] == r.p_value
    assert "expected 525 / 9975 at 5%" in r.describe() and "(< 0.001)" in r.describe()


def test_srm_too_few_units_off_or_no_split_is_not_judged() -> None:
    few = judge_srm(100, 9, 500, SRM, decisive=True)  # 5.45 expected candidate units
    assert few is not None and few.verdict is Verdict.NO_DATA and math.isnan(few.p_value)
    assert few.as_dict()["p_value"] is None and "too few to test" in few.describe()
    enough = judge_srm(190, 10, 500, SRM, decisive=True)  # exactly 10 expected
    assert enough is not None and enough.verdict is Verdict.PASS
    assert judge_srm(9_500, 1_000, 500, SampleRatioCheck(enabled=False), decisive=True) is None
    assert judge_srm(0, 500, 10_000, SRM, decisive=True) is None


def test_interim_looks_act_only_on_overwhelming_evidence() -> None:
    # p ~ 1e-5: a mismatch at the look that decides the step, not yet at an interim one
    deciding = judge_srm(9_500, 600, 500, SRM, decisive=True)
    interim = judge_srm(9_500, 600, 500, SRM, decisive=False)
    assert deciding is not None and deciding.verdict is Verdict.FAIL
    assert interim is not None and interim.verdict is Verdict.PASS
    assert interim.threshold == pytest.approx(1e-6) and 1e-6 < interim.p_value < 1e-3
    gross = judge_srm(9_500, 1_000, 500, SRM, decisive=False)
    assert gross is not None and gross.verdict is Verdict.FAIL


def test_srm_pauses_a_step_critical_failures_still_roll_back_and_no_data_does_not_hold() -> None:
    ok = rates(0.05, 1000)
    fine = judge(np.full(1000, 0.002), np.full(800, 0.002), g("cost_per_request"), alpha=ALPHA)
    crit = judge(ok, rates(0.5, 1000), g("error_rate", critical=True), alpha=ALPHA)
    mismatch = judge_srm(9_500, 1_000, 500, SRM, decisive=True)
    few = judge_srm(100, 9, 500, SRM, decisive=True)
    paused = aggregate([fine], mismatch)
    assert paused.action is Action.PAUSE and paused.reason.startswith("sample ratio mismatch")
    assert paused.as_dict()["srm"]["verdict"] == "fail"
    assert aggregate([fine, crit], mismatch).action is Action.ROLLBACK
    assert aggregate([fine], few).action is Action.PROCEED
    assert aggregate([fine]).as_dict()["srm"] is None


def test_aa_one_look_false_mismatch_rate_is_the_threshold() -> None:
    """Balanced splits at every weight, 2,000 seeds: p < threshold as often as it says."""
    rng = np.random.default_rng(20260102)
    check = SampleRatioCheck(threshold=0.05)
    trips = 0
    for seed in range(2000):
        weight = (100, 500, 2500, 5000)[seed % 4]
        total = int(rng.integers(2_000, 20_000))
        candidate = int(rng.binomial(total, weight / 10_000))
        r = judge_srm(total - candidate, candidate, weight, check, decisive=True)
        assert r is not None and r.verdict is not Verdict.NO_DATA
        trips += r.verdict is Verdict.FAIL
    assert 0.035 <= trips / 2000 <= 0.065, trips  # 0.05 +- 3 sd


def test_aa_units_through_the_real_allocation_never_trip_the_default() -> None:
    """Units hashed into rollouts of 50 different salts: counts as chance makes them."""
    units = [f"user-{i}" for i in range(4000)]
    p_values = []
    for rollout_id in range(1, 51):
        split = Allocation.rollout(f"rollout:support-bot:{rollout_id}", candidate="c",
                                   baseline="b", weight_bp=5000)
        buckets = [split.bucket(u) for u in units]
        for weight in (100, 500, 2500, 5000):
            candidate = sum(b < weight for b in buckets)
            r = judge_srm(len(units) - candidate, candidate, weight, SRM, decisive=True)
            assert r is not None and r.verdict is Verdict.PASS, r
            p_values.append(r.p_value)
    assert 0.01 <= sum(p < 0.05 for p in p_values) / len(p_values) <= 0.10


def test_aa_a_step_looked_at_every_minute_is_paused_about_threshold_often() -> None:
    """Ten looks at a growing count, the tenth deciding: a healthy step is paused at about the
    threshold's rate, where testing every look at the threshold would pause ~19% of them."""
    rng = np.random.default_rng(20260103)
    check = SampleRatioCheck(threshold=0.05)
    paused = naive = 0
    for _ in range(200):
        arrivals = rng.binomial(300, 0.05, size=10)
        looks = [judge_srm(300 * (k + 1) - int(c), int(c), 500, check, decisive=k == 9)
                 for k, c in enumerate(np.cumsum(arrivals))]
        paused += any(r is not None and r.verdict is Verdict.FAIL for r in looks)
        naive += any(r is not None and r.p_value < 0.05 for r in looks)
    assert paused / 200 <= 0.09, paused  # ~0.05
    assert naive / 200 >= 0.12, naive  # what one threshold at every look would do
