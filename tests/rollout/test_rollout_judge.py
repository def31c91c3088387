"""The pure judge: verdicts per guardrail kind, aggregation, and the A/A false-alarm rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampway.rollout import Action, Guardrail, Plan, Verdict, aggregate, judge

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


def test_equal_error_rates_pass() -> None:
    r = judge(rates(0.05, 20000, 1), rates(0.05, 3000, 2),
              g("error_rate", margin={"relative": 0.2}), alpha=ALPHA)
    assert r.verdict is Verdict.PASS
    assert r.lower < 0.2 < r.upper or r.upper < 0.2


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
    slightly = judge(rates(0.7, 20000, 1), rates(0.68, 4000, 2), guard, alpha=ALPHA)
    assert slightly.verdict is Verdict.PASS  # within the 5-point margin


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


def test_aggregation_critical_fail_rolls_back_other_fail_pauses_no_data_holds() -> None:
    bad = rates(0.5, 1000)
    ok = rates(0.05, 1000)
    crit = judge(ok, bad, g("error_rate", critical=True), alpha=ALPHA)
    soft = judge(ok, bad, g("refusal_rate"), alpha=ALPHA)
    none = judge(ok, bad[:10], g("fallback_rate"), alpha=ALPHA)
    fine = judge(ok, ok, g("cost_per_request"), alpha=ALPHA)
    assert aggregate([fine, none, soft, crit]).action is Action.ROLLBACK
    assert "error_rate" in aggregate([fine, none, soft, crit]).reason
    assert aggregate([fine, none, soft]).action is Action.PAUSE
    assert aggregate([fine, none]).action is Action.HOLD
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


def test_aa_500_rollouts_looking_every_minute_roll_back_at_most_alpha() -> None:
    rng = np.random.default_rng(20260101)
    rollbacks = sum(_rolls_back(rng, per_minute=300, minutes=15) for _ in range(500))
    assert rollbacks / 500 <= AA_PLAN.alpha, rollbacks


def test_the_same_harness_catches_a_doubled_error_rate() -> None:
    rng = np.random.default_rng(7)
    caught = sum(_rolls_back(rng, 300, 15, candidate_error=0.10) for _ in range(20))
    assert caught >= 18
