"""Closed-form intervals against scipy on fixed data, and their coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rampway.stats import paired_t_ci, proportion_diff_ci, srm_test, welch_ci, wilson_interval

RNG = np.random.default_rng(20240601)
BASE = RNG.normal(0.70, 0.15, 60)
CAND = BASE + RNG.normal(0.02, 0.08, 60)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_paired_t_matches_scipy_ttest_rel(level: float) -> None:
    ours = paired_t_ci(BASE, CAND, level)
    ref = stats.ttest_rel(CAND, BASE)
    ci = ref.confidence_interval(level)
    assert ours.estimate == pytest.approx(float(np.mean(CAND - BASE)), abs=1e-12)
    assert (ours.lower, ours.upper) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.n == (60,)


def test_welch_matches_scipy_ttest_ind() -> None:
    a, b = RNG.normal(1.0, 1.0, 40), RNG.normal(1.3, 2.5, 75)
    ours = welch_ci(a, b, 0.95)
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (ours.lower, ours.upper) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_degenerate_inputs() -> None:
    assert not paired_t_ci([1.0], [2.0]).informative
    assert math.isnan(paired_t_ci([], []).estimate)
    flat = paired_t_ci([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert (flat.lower, flat.estimate, flat.upper) == pytest.approx((0.5, 0.5, 0.5))
    assert not welch_ci([1.0], [1.0, 2.0]).informative
    with pytest.raises(ValueError, match="differ in length"):
        paired_t_ci([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        welch_ci([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="level"):
        paired_t_ci([1.0, 2.0], [1.0, 2.0], level=95)


def test_paired_t_covers_the_true_difference_95_percent() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(1_000):
        base = rng.normal(0.6, 0.2, 30)
        cand = base + 0.05 + rng.standard_t(5, 30) * 0.1  # true mean difference 0.05
        hits += paired_t_ci(base, cand).contains(0.05)
    assert 930 <= hits <= 970


def test_newcombe_reproduces_the_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873, Table II example (a): 56/70 vs 48/80, method 10.
    ci = proportion_diff_ci(48, 80, 56, 70)
    assert ci.estimate == pytest.approx(0.2)
    assert (ci.lower, ci.upper) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_newcombe_is_built_from_scipy_wilson_intervals() -> None:
    for sa, na, sb, nb in [
        (3, 200, 9, 210),
        (0, 50, 2, 50),
        (50, 50, 48, 50),
        (120, 1000, 95, 990),
    ]:
        w1 = stats.binomtest(sa, na).proportion_ci(0.95, method="wilson")
        w2 = stats.binomtest(sb, nb).proportion_ci(0.95, method="wilson")
        assert wilson_interval(sa, na) == pytest.approx((w1.low, w1.high), abs=1e-12)
        p1, p2 = sa / na, sb / nb
        ci = proportion_diff_ci(sa, na, sb, nb)
        lower = p2 - p1 - math.hypot(p2 - w2.low, w1.high - p1)
        upper = p2 - p1 + math.hypot(w2.high - p2, p1 - w1.low)
        assert (ci.lower, ci.upper) == pytest.approx((lower, upper), abs=1e-12)


def test_wald_formula_and_its_zero_width_failure() -> None:
    ci = proportion_diff_ci(30, 100, 45, 100, method="wald")
    se = math.sqrt(0.3 * 0.7 / 100 + 0.45 * 0.55 / 100)
    assert (ci.lower, ci.upper) == pytest.approx((0.15 - 1.959964 * se, 0.15 + 1.959964 * se))
    assert proportion_diff_ci(0, 50, 0, 50, method="wald").upper == 0  # why Newcombe is default
    assert proportion_diff_ci(0, 50, 0, 50).upper > 0.05


def test_proportion_intervals_cover_95_percent() -> None:
    rng = np.random.default_rng(7)
    sa, sb = rng.binomial(400, 0.08, 1_000), rng.binomial(380, 0.11, 1_000)
    pairs = zip(sa, sb, strict=True)
    hits = sum(proportion_diff_ci(int(a), 400, int(b), 380).contains(0.03) for a, b in pairs)
    assert 930 <= hits <= 975


def test_proportion_input_errors() -> None:
    with pytest.raises(ValueError, match="successes"):
        proportion_diff_ci(5, 4, 1, 10)
    with pytest.raises(ValueError, match="method"):
        proportion_diff_ci(1, 4, 1, 10, method="exact")
    assert not proportion_diff_ci(0, 0, 1, 10).informative


def test_srm_matches_scipy_chisquare_and_flags_broken_splits() -> None:
    res = srm_test([5_120, 4_880], [50, 50])
    ref = stats.chisquare([5_120, 4_880], [5_000, 5_000])
    assert res.p_value == pytest.approx(ref.pvalue) and res.statistic == pytest.approx(
        ref.statistic
    )
    assert res.mismatch is False  # p ~ 0.016: noise at the 0.001 threshold
    assert srm_test([50_800, 49_200], [1, 1]).mismatch is True
    assert srm_test([950, 50], [95, 5]).mismatch is False
    assert srm_test([0, 0], [1, 1]).p_value == 1.0
    with pytest.raises(ValueError):
        srm_test([1, 2, 3], [1, 1])
    rng = np.random.default_rng(3)
    for _ in range(50):  # 2-5 arms, uneven weights: the same numbers as scipy's chisquare
        k = int(rng.integers(2, 6))
        weights, counts = rng.uniform(0.1, 1.0, k), rng.integers(1, 5_000, k)
        res = srm_test(counts.tolist(), weights.tolist())
        ref = stats.chisquare(counts, counts.sum() * weights / weights.sum())
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
