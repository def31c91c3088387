"""The confidence intervals the comparison uses, in one place.

Paired t and paired bootstrap for mean differences (and ratios of means), and a cluster
bootstrap for quantile ratios (latency p50/p95, resampling cases so repeats stay together).
Bootstrap resampling is seeded: the same data always gives the same interval, so a gate
verdict is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from rampway.gate.model import Interval

Array = NDArray[np.float64]
RESAMPLES = 4000
SEED = 20251126


def paired_t(diffs: Array, confidence: float) -> Interval:
    """CI of mean(diffs) from the t distribution (= scipy.stats.ttest_rel(c, b))."""
    from scipy import stats as sps

    n = diffs.size
    mean = float(diffs.mean()) if n else 0.0
    if n < 2:
        return Interval(-math.inf, math.inf)
    se = float(diffs.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        return Interval(mean, mean)
    t = float(sps.t.ppf(0.5 + confidence / 2, n - 1))
    return Interval(mean - t * se, mean + t * se)


def bootstrap(
    statistic: Callable[[NDArray[np.intp]], Array],
    n: int,
    confidence: float,
    resamples: int = RESAMPLES,
) -> Interval:
    """Percentile bootstrap over case indices. `statistic(idx)` maps (B, n) indices → B values."""
    if n < 2:
        return Interval(-math.inf, math.inf)
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, n, size=(resamples, n))
    values = statistic(idx)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(-math.inf, math.inf)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return Interval(float(low), float(high))


def paired_mean_bootstrap(diffs: Array, confidence: float) -> Interval:
    return bootstrap(lambda idx: diffs[idx].mean(axis=1), diffs.size, confidence)


def ratio_bootstrap(base: Array, cand: Array, confidence: float) -> Interval:
    """CI of mean(cand)/mean(base) - 1, resampling cases jointly (paired)."""

    def stat(idx: NDArray[np.intp]) -> Array:
        b = base[idx].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out: Array = cand[idx].mean(axis=1) / b - 1.0
        return out

    return bootstrap(stat, base.size, confidence)


def quantile_ratio_bootstrap(
    base: Array, cand: Array, q: float, confidence: float, resamples: int = 1000
) -> Interval:
    """CI of quantile_q(cand)/quantile_q(base) - 1; rows are cases, columns repeats."""

    def stat(idx: NDArray[np.intp]) -> Array:
        b = np.quantile(base[idx].reshape(idx.shape[0], -1), q, axis=1)
        c = np.quantile(cand[idx].reshape(idx.shape[0], -1), q, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out: Array = c / b - 1.0
        return out

    return bootstrap(stat, base.shape[0], confidence, resamples)
