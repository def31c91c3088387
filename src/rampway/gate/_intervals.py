"""The confidence intervals the comparison uses, all from `rampway.stats`, in one place.

Paired t and paired (BCa) bootstrap for mean differences — the gate decides on the more
cautious hull of the BCa interval and a t interval with kurtosis-adjusted degrees of freedom
(`cautious_mean`; BCa alone passes a drop exactly on the margin 4-6% of the time at 100
cases, see `rampway.stats._heavy_t`) — a paired percentile bootstrap for
the ratio of mean costs, and a paired quantile-ratio bootstrap for latency p50/p95. Resampling
is seeded: the same data always gives the same interval, so a gate verdict is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from rampway.gate.model import Interval
from rampway.stats import Interval as StatsInterval
from rampway.stats import (
    bootstrap_ci,
    heavy_tailed_t_ci,
    paired_bootstrap_ci,
    paired_t_ci,
    quantile_diff_ci,
)

Array = NDArray[np.float64]
RESAMPLES = 2000
SEED = 20251126
LATENCY_RESAMPLES = 500  # quantiles of ~1000s of calls are costly to resample; 500 suffices


def _ours(interval: StatsInterval) -> Interval:
    return Interval(interval.lower, interval.upper)


def _constant(values: Array) -> bool:
    return values.size > 0 and bool(np.all(values == values[0]))


def paired_t(diffs: Array, confidence: float) -> Interval:
    """CI of mean(diffs) (= scipy.stats.ttest_rel(candidate, baseline).confidence_interval)."""
    return _ours(paired_t_ci(np.zeros_like(diffs), diffs, level=confidence))


def paired_mean_bootstrap(diffs: Array, confidence: float) -> Interval:
    """BCa bootstrap CI of mean(diffs); a constant difference has a zero-width interval."""
    if _constant(diffs):
        return Interval(float(diffs[0]), float(diffs[0]))
    return _ours(
        paired_bootstrap_ci(
            np.zeros_like(diffs), diffs, level=confidence, n_resamples=RESAMPLES, seed=SEED
        )
    )


def cautious_mean(diffs: Array, confidence: float) -> Interval:
    """The hull of the BCa interval and the heavy-tailed t interval of mean(diffs).

    Each alone is too narrow somewhere: BCa on zero-inflated differences (a few informative
    cases), t when the differences are skewed. Taking the wider side of each keeps a drop
    exactly on the margin passing ≤ 2.5% of the time (tests/gate/test_calibration.py).
    """
    boot = paired_mean_bootstrap(diffs, confidence)
    heavy = _ours(heavy_tailed_t_ci(diffs, level=confidence))
    return Interval(min(boot.low, heavy.low), max(boot.high, heavy.high))


def _ratio_of_means(b: Array, c: Array, axis: int = -1) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.mean(c, axis=axis) / np.mean(b, axis=axis) - 1.0)


def ratio_bootstrap(base: Array, cand: Array, confidence: float) -> Interval:
    """CI of mean(cand)/mean(base) - 1, resampling cases jointly (paired, percentile)."""
    if _constant(cand / np.where(base == 0, math.nan, base)):
        value = float(cand.mean() / base.mean() - 1.0)
        return Interval(value, value)
    interval = bootstrap_ci(
        [base, cand],
        _ratio_of_means,
        paired=True,
        level=confidence,
        method="percentile",
        n_resamples=RESAMPLES,
        seed=SEED,
        name="cost-ratio",
    )
    return _ours(interval)


def quantile_ratio_bootstrap(base: Array, cand: Array, q: float, confidence: float) -> Interval:
    """CI of quantile_q(cand)/quantile_q(base) - 1 over paired (case, repeat) calls."""
    interval = quantile_diff_ci(
        base.ravel(),
        cand.ravel(),
        q,
        ratio=True,
        paired=True,
        level=confidence,
        n_resamples=LATENCY_RESAMPLES,
        seed=SEED,
    )
    return Interval(interval.lower - 1.0, interval.upper - 1.0)
