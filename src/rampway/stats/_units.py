"""Statistics over unit-clustered data: ratio metrics by the delta method, quantiles by a cluster
bootstrap, and always-valid intervals from any asymptotically normal estimate.

An experiment assigns *units* (users, sessions) to arms, and a unit makes many requests. A
per-request mean such as the error rate is then a ratio of two per-unit sums,

    R = sum_i x_i / sum_i y_i      (x_i = the unit's errors, y_i = its requests)

and its requests are not independent: one unit with 500 failing requests is one unlucky unit,
not 500 pieces of evidence. The delta method (Deng et al., "Applying the Delta Method in Metric
Analytics", KDD 2018; GrowthBook's ratio metrics) gives its variance over units:

    Var(R) ~= (var_x - 2 R cov_xy + R^2 var_y) / (n mean_y^2)

`ratio_summary` returns it as an `ArmSummary` whose `variance / n` is Var(R), so every
summary-based function of `rampway.stats` (`sequential_diff`, `relative_difference`, …) applies
to ratio metrics unchanged.

A quantile of per-request values (p95 latency) has no such formula; `cluster_quantile_ci`
resamples whole units (every request of a drawn unit, as often as it is drawn) with the shared
bootstrap engine's resampler, reading the quantile of the resample as the linear (numpy
default) quantile of the expanded sample.

`cluster_quantile_woodruff` gives the same comparison without resampling: Woodruff's interval
(1952) reads the quantile's uncertainty off the uncertainty of the share of values below it.
With p = the share of values <= Q(q) — a ratio metric over units, so its standard error s_p
comes from the delta method and respects clustering — Q's standard error is about
(Q(q + z s_p) - Q(q - z s_p)) / 2z (the density enters through the spread of the order
statistics). It needs three quantiles and one per-unit count, so a database can compute it
(the experiment analysis over millions of requests), and it costs O(n log n) instead of
O(resamples x n) (tests/stats/test_quantile_woodruff.py checks it against the cluster
bootstrap).

`sequential_from_se` turns an estimate and its standard error into the asymptotic confidence
sequence of `rampway.stats._sequential` — for estimates whose variance comes from elsewhere (a
bootstrap), on the same footing as `sequential_diff`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rampway.stats._bootstrap import MAX_CELLS, Seed, _resample, _rng
from rampway.stats._dist import norm_ppf, norm_sf
from rampway.stats._sequential import (
    DEFAULT_TUNING_N,
    ArmSummary,
    SequentialInterval,
    check_alpha,
    cs_halfwidth,
    resolve_rho2,
)
from rampway.stats._types import Interval, Sample, as_array, check_level, unbounded

Array = NDArray[np.float64]


def ratio_summary(numerators: Sample, denominators: Sample) -> ArmSummary:
    """sum(numerators) / sum(denominators) over units, variance by the delta method.

    The result's `variance` is n * Var(R), so that `variance / n` — what the summary-based
    functions use as the variance of the estimate — is the delta-method Var(R). Fewer than two
    units, or no denominator at all, give NaN mean/variance (downstream: unbounded).

    >>> s = ratio_summary([1, 0, 2, 0], [10, 5, 20, 5])   # 3 errors in 40 requests
    >>> round(s.mean, 4)
    0.075
    """
    x, y = as_array(numerators, "numerators"), as_array(denominators, "denominators")
    if x.shape != y.shape:
        raise ValueError(f"numerators and denominators differ in length: {x.size} vs {y.size}")
    n = int(x.size)
    my = float(y.mean()) if n else 0.0
    if n < 2 or my == 0:
        return ArmSummary(n, math.nan, math.nan)
    r = float(x.mean()) / my
    cov = np.cov(x, y, ddof=1)
    var_r = (float(cov[0, 0]) - 2 * r * float(cov[0, 1]) + r * r * float(cov[1, 1])) / (n * my**2)
    return ArmSummary(n, r, max(var_r, 0.0) * n)


def summary_diff_ci(
    baseline: ArmSummary, candidate: ArmSummary, level: float = 0.95, method: str = "delta"
) -> Interval:
    """candidate.mean - baseline.mean with a normal (z) interval from the two summaries.

    The fixed-horizon interval for ratio metrics (`ratio_summary`), where a t distribution's
    degrees of freedom have no meaning; equals Welch's interval for large samples.
    """
    level = check_level(level)
    ns = (baseline.n, candidate.n)
    est = candidate.mean - baseline.mean if min(ns) > 0 else math.nan
    v = candidate.variance / max(candidate.n, 1) + baseline.variance / max(baseline.n, 1)
    if min(ns) < 2 or not (math.isfinite(est) and math.isfinite(v)):
        return unbounded(est, level, method, ns)
    se = math.sqrt(v)
    z = norm_ppf((1 + level) / 2)
    p = 2 * norm_sf(abs(est / se)) if se > 0 else (1.0 if est == 0 else 0.0)
    return Interval(est, est - z * se, est + z * se, level, method, ns, p)


def sequential_from_se(
    estimate: float,
    se: float,
    n_baseline: int,
    n_candidate: int,
    *,
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
    mixture_variance: float | None = None,
    min_n: int = 2,
    method: str = "asymptotic-cs",
) -> SequentialInterval:
    """Always-valid CS around an asymptotically normal `estimate` with standard error `se`.

    The same boundary as `sequential_diff` (which is this with se^2 = var_b/n_b + var_a/n_a).
    """
    check_alpha(alpha)
    rho2 = resolve_rho2(alpha, tuning_n, mixture_variance)
    ok = min(n_baseline, n_candidate) >= max(min_n, 2) and math.isfinite(se) and se >= 0
    if not ok or not math.isfinite(estimate):
        return SequentialInterval(estimate, -math.inf, math.inf, alpha, n_baseline,
                                  n_candidate, method)
    half = cs_halfwidth(se * se, n_baseline + n_candidate, alpha, rho2)
    return SequentialInterval(estimate, estimate - half, estimate + half, alpha, n_baseline,
                              n_candidate, method)


def _dense(clusters: Sample, size: int, name: str) -> tuple[NDArray[np.intp], int]:
    ids = np.asarray(clusters)
    if ids.ndim != 1 or ids.size != size:
        raise ValueError(f"{name} clusters must be one label per value ({size}), got {ids.shape}")
    labels, dense = np.unique(ids, return_inverse=True)
    return dense.astype(np.intp), int(labels.size)


def _first_above(cum: NDArray[np.int32], k: Array) -> NDArray[np.intp]:
    """Per row, the first position whose running count exceeds k: the k-th (0-based) element
    of the expanded sample."""
    found = np.asarray(np.count_nonzero(cum <= k[:, np.newaxis], axis=1), dtype=np.intp)
    out: NDArray[np.intp] = np.minimum(found, cum.shape[1] - 1)
    return out


def _cluster_quantile(values: Array, clusters: NDArray[np.intp], k: int, q: float) -> Any:
    """statistic(resampled cluster indices, axis=-1): the q-quantile of the expanded resample."""
    order = np.argsort(values, kind="stable")
    v, c = values[order], clusters[order]

    def statistic(drawn: Array, axis: int = -1) -> Array:
        idx = np.asarray(drawn, dtype=np.intp)
        flat = idx.ndim == 1
        idx = np.atleast_2d(idx)
        rows = idx.shape[0]
        offsets = (np.arange(rows, dtype=np.intp) * k)[:, np.newaxis]
        counts = np.bincount((idx + offsets).ravel(), minlength=rows * k).reshape(rows, k)
        cum = np.cumsum(counts.astype(np.int32)[:, c], axis=1, dtype=np.int32)
        total = cum[:, -1]
        pos = q * (total - 1)
        lo = np.floor(pos)
        j_lo = _first_above(cum, lo)
        j_hi = _first_above(cum, np.minimum(lo + 1, total - 1))
        out = v[j_lo] + (pos - lo) * (v[j_hi] - v[j_lo])
        return np.asarray(out[0] if flat else out, dtype=np.float64)

    return statistic


@dataclass(frozen=True, slots=True)
class QuantileComparison:
    """Two arms' q-quantiles compared by one unit-cluster bootstrap: the difference (candidate -
    baseline) and the ratio (candidate / baseline), with the bootstrap standard errors."""

    difference: Interval
    ratio: Interval
    difference_se: float
    ratio_se: float


def cluster_quantile_ci(
    baseline: Sample,
    baseline_clusters: Sample,
    candidate: Sample,
    candidate_clusters: Sample,
    q: float,
    *,
    level: float = 0.95,
    n_resamples: int = 2_000,
    seed: Seed = None,
    batch: int | None = None,
) -> QuantileComparison:
    """Difference and ratio of the q-quantiles of two arms' values, resampling clusters (units).

    `*_clusters` label each value with its unit (any sortable labels). Each arm is resampled by
    drawing its units with replacement, the arms independently, exactly as the shared engine
    draws (`rampway.stats._bootstrap`): with one value per unit the intervals equal
    `quantile_diff_ci(..., method="percentile")` for the same seed and batch. Percentile
    intervals (BCa's jackknife is unreliable for quantiles); both come from the same resamples.
    Cost: O(n_resamples x values) time; memory bounded by `MAX_CELLS` per batch. `n` counts
    units. A ratio over a zero baseline quantile is unbounded.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    level = check_level(level)
    a, b = as_array(baseline, "baseline"), as_array(candidate, "candidate")
    ca, ka = _dense(baseline_clusters, a.size, "baseline")
    cb, kb = _dense(candidate_clusters, b.size, "candidate")
    ns = (ka, kb)
    names = (f"q{q:g}-diff-cluster-bootstrap-percentile",
             f"q{q:g}-ratio-cluster-bootstrap-percentile")
    qa = float(np.quantile(a, q)) if a.size else math.nan
    qb = float(np.quantile(b, q)) if b.size else math.nan
    estimates = (qb - qa, qb / qa if qa else math.nan)
    if min(ns) < 2:
        return QuantileComparison(unbounded(estimates[0], level, names[0], ns),
                                  unbounded(estimates[1], level, names[1], ns),
                                  math.inf, math.inf)
    stat_a, stat_b = _cluster_quantile(a, ca, ka, q), _cluster_quantile(b, cb, kb, q)

    def statistic(x: Array, y: Array, axis: int = -1) -> Array:
        qx, qy = stat_a(x), stat_b(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(qx != 0, qy / np.where(qx != 0, qx, 1), np.nan)
        return np.stack([qy - qx, ratio], axis=-1)

    units = [np.arange(ka, dtype=np.float64), np.arange(kb, dtype=np.float64)]
    batch = batch or max(1, MAX_CELLS // (a.size + b.size))
    theta = _resample(units, statistic, n_resamples, batch, _rng(seed))
    tail = (1 - level) / 2
    out: list[Interval] = []
    ses: list[float] = []
    for j in (0, 1):
        t = theta[:, j]
        if not (math.isfinite(estimates[j]) and np.all(np.isfinite(t))):
            out.append(unbounded(estimates[j], level, names[j], ns))
            ses.append(math.inf)
            continue
        lower, upper = np.quantile(t, (tail, 1 - tail))
        out.append(Interval(estimates[j], float(lower), float(upper), level, names[j], ns))
        ses.append(float(t.std(ddof=1)))
    return QuantileComparison(out[0], out[1], ses[0], ses[1])


Z95 = norm_ppf(0.975)


def woodruff_se(quantile_at: Any, q: float, share_se: float, z: float = Z95) -> float:
    """Standard error of the q-quantile from the standard error of the share below it.

    `quantile_at(p)` returns the sample's p-quantile (numpy's linear definition, or the same
    read from a database); `share_se` is the standard error of the share of values <= the
    q-quantile (over units: `ratio_summary` of per-unit counts).
    """
    if not math.isfinite(share_se):
        return math.inf
    lo = float(quantile_at(max(0.0, q - z * share_se)))
    hi = float(quantile_at(min(1.0, q + z * share_se)))
    return (hi - lo) / (2 * z)


def share_se(below: Sample, counts: Sample) -> float:
    """Standard error over units of the share of values below a point: per unit, how many of
    its `counts` values are `below` it (delta method); inf with fewer than two units."""
    share = ratio_summary(below, counts)
    return math.sqrt(share.variance / share.n) if share.n >= 2 else math.inf


def clustered_quantile(values: Sample, clusters: Sample, q: float) -> tuple[float, float, int]:
    """(q-quantile, its Woodruff standard error over units, units) of one arm's values."""
    x = as_array(values, "values")
    dense, k = _dense(clusters, x.size, "values")
    if x.size == 0:
        return math.nan, math.inf, 0
    quantile = float(np.quantile(x, q))
    below = np.bincount(dense, weights=(x <= quantile).astype(np.float64), minlength=k)
    counts = np.bincount(dense, minlength=k).astype(np.float64)
    return quantile, woodruff_se(lambda p: np.quantile(x, p), q, share_se(below, counts)), k


def compare_quantiles(
    baseline: tuple[float, float, int], candidate: tuple[float, float, int], q: float,
    level: float = 0.95,
) -> QuantileComparison:
    """Difference and ratio of two arms' quantiles from (quantile, se, units) each: normal
    intervals, the ratio's standard error by the delta method."""
    level = check_level(level)
    (qa, sa, ka), (qb, sb, kb) = baseline, candidate
    ns = (ka, kb)
    names = (f"q{q:g}-diff-cluster-woodruff", f"q{q:g}-ratio-cluster-woodruff")
    diff = qb - qa
    ratio = qb / qa if qa else math.nan
    diff_se = math.sqrt(sa * sa + sb * sb)
    ratio_se = (abs(ratio) * math.sqrt((sa / qa) ** 2 + (sb / qb) ** 2)
                if qa and qb and math.isfinite(ratio) else math.inf)
    z = norm_ppf((1 + level) / 2)
    out = []
    for est, se, name in ((diff, diff_se, names[0]), (ratio, ratio_se, names[1])):
        if min(ns) < 2 or not (math.isfinite(est) and math.isfinite(se)):
            out.append(unbounded(est, level, name, ns))
        else:
            out.append(Interval(est, est - z * se, est + z * se, level, name, ns))
    return QuantileComparison(out[0], out[1], diff_se, ratio_se)


def cluster_quantile_woodruff(
    baseline: Sample,
    baseline_clusters: Sample,
    candidate: Sample,
    candidate_clusters: Sample,
    q: float,
    *,
    level: float = 0.95,
) -> QuantileComparison:
    """`cluster_quantile_ci` without resampling: Woodruff standard errors over units (see the
    module docstring), normal intervals. `n` counts units."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    return compare_quantiles(clustered_quantile(baseline, baseline_clusters, q),
                             clustered_quantile(candidate, candidate_clusters, q), q, level)


__all__ = [
    "QuantileComparison",
    "Z95",
    "cluster_quantile_ci",
    "cluster_quantile_woodruff",
    "clustered_quantile",
    "compare_quantiles",
    "share_se",
    "woodruff_se",
    "ratio_summary",
    "sequential_from_se",
    "summary_diff_ci",
]
