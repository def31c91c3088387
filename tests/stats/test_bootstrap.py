"""Bootstrap intervals equal scipy.stats.bootstrap on the same data and seed, and cover."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rampway.stats import paired_bootstrap_ci, quantile_diff_ci

RNG = np.random.default_rng(99)
BASE = RNG.beta(5, 2, 120)
CAND = np.clip(BASE + RNG.normal(0.01, 0.1, 120), 0, 1)
LAT_A = RNG.lognormal(6.0, 0.5, 400)
LAT_B = RNG.lognormal(6.1, 0.6, 350)
TOL = 1e-9  # same resampling stream as scipy 1.17: only float rounding differs


def mean_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return b.mean(axis=axis) - a.mean(axis=axis)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_paired_bootstrap_matches_scipy(method: str) -> None:
    ours = paired_bootstrap_ci(BASE, CAND, method=method, seed=np.random.default_rng(5))
    ref = stats.bootstrap(
        (BASE, CAND), mean_diff, paired=True, method=method, rng=np.random.default_rng(5)
    ).confidence_interval
    assert (ours.lower, ours.upper) == pytest.approx((ref.low, ref.high), abs=TOL)
    assert ours.estimate == pytest.approx(float(np.mean(CAND - BASE)))


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("ratio", [False, True])
@pytest.mark.parametrize("q", [0.5, 0.95])
def test_quantile_bootstrap_matches_scipy(method: str, ratio: bool, q: float) -> None:
    def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        qa, qb = np.quantile(a, q, axis=axis), np.quantile(b, q, axis=axis)
        return qb / qa if ratio else qb - qa

    ours = quantile_diff_ci(
        LAT_A, LAT_B, q, ratio=ratio, method=method, n_resamples=2_000, seed=3, batch=500
    )
    ref = stats.bootstrap(
        (LAT_A, LAT_B),
        statistic,
        method=method,
        n_resamples=2_000,
        batch=500,
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert (ours.lower, ours.upper) == pytest.approx((ref.low, ref.high), abs=TOL)


def test_paired_quantile_ratio_matches_scipy() -> None:
    a, b = LAT_A[:300], LAT_B[:300]

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.quantile(y, 0.95, axis=axis) / np.quantile(x, 0.95, axis=axis)

    ours = quantile_diff_ci(a, b, 0.95, ratio=True, paired=True, n_resamples=1_000, seed=11)
    ref = stats.bootstrap(
        (a, b),
        statistic,
        paired=True,
        method="percentile",
        n_resamples=1_000,
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert (ours.lower, ours.upper) == pytest.approx((ref.low, ref.high), abs=TOL)


def test_paired_bootstrap_covers_95_percent() -> None:
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(1_000):
        base = rng.normal(0.5, 0.2, 60)
        cand = base + rng.normal(0.1, 0.15, 60)
        ci = paired_bootstrap_ci(base, cand, method="percentile", n_resamples=999, seed=rng)
        hits += ci.contains(0.1)
    assert 930 <= hits <= 970


def test_unbounded_when_data_cannot_bound_it() -> None:
    assert not paired_bootstrap_ci([1.0], [2.0]).informative
    zeros = np.zeros(50)
    assert not quantile_diff_ci(zeros, LAT_B[:50], 0.5, ratio=True, seed=1).informative
    with pytest.raises(ValueError, match="quantile"):
        quantile_diff_ci(LAT_A, LAT_B, 95)
    with pytest.raises(ValueError, match="method"):
        paired_bootstrap_ci(BASE, CAND, method="basic")


def test_same_seed_same_interval() -> None:
    first = paired_bootstrap_ci(BASE, CAND, seed=42, n_resamples=2_000)
    assert first == paired_bootstrap_ci(BASE, CAND, seed=42, n_resamples=2_000)
