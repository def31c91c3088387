"""The comparison's intervals agree with scipy, and an identical release does not flake."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from synthetic import case_population, synthetic_run

from rampway.gate import _intervals
from rampway.gate.compare import compare
from rampway.gate.model import Verdict
from rampway.gate.policy import decide, default_policy


def _per_case_quality(run: object) -> np.ndarray:
    grouped = run.by_case()  # type: ignore[attr-defined]
    return np.array([np.mean([r.metrics["quality"] for r in grouped[c]]) for c in sorted(grouped)])


def test_quality_intervals_match_scipy_ttest_rel_and_bootstrap() -> None:
    rng = np.random.default_rng(1)
    p, cost, latency = case_population(rng, 120)
    base = synthetic_run(rng, p, cost, latency)
    cand = synthetic_run(rng, np.clip(p - 0.05, 0, 1), cost, latency, release="bot@cand")
    data = compare(base, cand, confidence=0.9)
    b, c = _per_case_quality(base), _per_case_quality(cand)

    t = sps.ttest_rel(c, b).confidence_interval(0.9)
    assert data.axes["quality"].t is not None
    assert data.axes["quality"].t.low == pytest.approx(t.low * 100, rel=1e-9)
    assert data.axes["quality"].t.high == pytest.approx(t.high * 100, rel=1e-9)

    boot = sps.bootstrap(
        ((c - b) * 100,),
        np.mean,
        confidence_level=0.9,
        n_resamples=_intervals.RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(_intervals.SEED),
    ).confidence_interval
    # Same resampling scheme, paired design vs one sample of differences: equal up to MC error.
    width = boot.high - boot.low
    assert abs(data.axes["quality"].bootstrap.low - boot.low) < 0.05 * width
    assert abs(data.axes["quality"].bootstrap.high - boot.high) < 0.05 * width
    assert data.axes["quality"].change == pytest.approx((c - b).mean() * 100)


def test_paired_bootstrap_equals_scipy_paired_bootstrap_exactly() -> None:
    rng = np.random.default_rng(2)
    diffs = rng.normal(-1.0, 3.0, 80)
    ours = _intervals.paired_mean_bootstrap(diffs, 0.95)
    zeros = np.zeros_like(diffs)
    ref = sps.bootstrap(
        (zeros, diffs),
        lambda a, b, axis: b.mean(axis) - a.mean(axis),
        paired=True,
        n_resamples=_intervals.RESAMPLES,
        rng=np.random.default_rng(_intervals.SEED),
    ).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=1e-9)
    assert ours.high == pytest.approx(ref.high, abs=1e-9)


def test_cost_and_latency_changes_are_relative_with_bootstrap_cis() -> None:
    rng = np.random.default_rng(3)
    p, cost, latency = case_population(rng, 200)
    base = synthetic_run(rng, p, cost, latency)
    cand = synthetic_run(rng, p, cost * 0.5, latency * 1.3, release="bot@cand")
    data = compare(base, cand)
    assert data.axes["cost"].change == pytest.approx(-50, abs=1.5)
    assert data.axes["cost"].bootstrap.low < -50 < data.axes["cost"].bootstrap.high + 1.5
    assert 20 < data.axes["latency_p95"].change < 40
    assert data.axes["latency_p95"].bootstrap.low > 10  # a +30% p95 is confidently > +10%


def _aa_verdicts(n_cases: int, flaky: float, reruns: int = 200) -> list[Verdict]:
    population = np.random.default_rng(0)
    p, cost, latency = case_population(population, n_cases, flaky)
    policy = default_policy(["quality"])
    verdicts = []
    for seed in range(reruns):
        rng = np.random.default_rng(1000 + seed)
        base = synthetic_run(rng, p, cost, latency)
        cand = synthetic_run(rng, p, cost, latency, release="bot@same")
        verdicts.append(decide(policy, compare(base, cand)).verdict)
    return verdicts


@pytest.mark.slow(seconds=140)
def test_identical_release_passes_at_least_99_percent_of_200_reruns() -> None:
    """The A/A check: same behaviour, 200 independent reruns with different seeds.

    A temperature-0 suite of 700 cases × 3 repeats where 1% of the cases are flaky: precise
    enough for a 1-point margin. (With fewer cases the honest answer is INCONCLUSIVE.)
    """
    verdicts = _aa_verdicts(700, flaky=0.01)
    passed = sum(v is Verdict.PASS for v in verdicts)
    assert passed >= 198, f"only {passed}/200 passed"


@pytest.mark.slow
def test_a_noisy_identical_release_is_never_failed_only_inconclusive() -> None:
    """With 10% flaky cases the CI is wider than the 1-point margin: the gate must not guess."""
    verdicts = _aa_verdicts(300, flaky=0.1, reruns=40)
    assert Verdict.FAIL not in verdicts
    assert Verdict.INCONCLUSIVE in verdicts


def test_a_real_two_point_drop_is_caught_while_noise_is_not() -> None:
    population = np.random.default_rng(5)
    p, cost, latency = case_population(population, 400)
    worse = p.copy()
    stable = np.flatnonzero(p == 1.0)[:20]  # 20 of 400 cases (5 points) now always fail
    worse[stable] = 0.0
    rng = np.random.default_rng(6)
    base = synthetic_run(rng, p, cost, latency)
    cand = synthetic_run(rng, worse, cost, latency, release="bot@worse")
    data = compare(base, cand)
    decision = decide(default_policy(["quality"]), data)
    assert decision.verdict is Verdict.FAIL
    assert {c.case_id for c in data.newly_failing} >= {f"c{i:04d}" for i in stable}
    assert data.noise_floor["quality"] is not None and data.noise_floor["quality"] > 0
