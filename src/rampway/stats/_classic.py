"""Closed-form intervals: paired t, Welch two-sample t, proportions (Wald, Newcombe), SRM.

These match scipy on the same data (`ttest_rel(...).confidence_interval`,
`ttest_ind(..., equal_var=False).confidence_interval`, `chisquare`); tests pin that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rampway.stats._dist import chi2_sf, norm_ppf, t_ppf, t_sf
from rampway.stats._types import Interval, Sample, as_array, check_level, unbounded


def paired_t_ci(baseline: Sample, candidate: Sample, level: float = 0.95) -> Interval:
    """Mean of (candidate - baseline) over pairs with a Student t interval.

    Equal to `scipy.stats.ttest_rel(candidate, baseline).confidence_interval(level)`, except
    that zero variance gives the zero-width interval [d, d] (scipy: NaN) and fewer than two
    pairs give an unbounded interval.
    """
    level = check_level(level)
    a, b = as_array(baseline, "baseline"), as_array(candidate, "candidate")
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    d = b - a
    n = int(d.size)
    if n < 2:
        return unbounded(float(d.mean()) if n else math.nan, level, "paired-t", (n,))
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))
    return _t_interval(mean, se, n - 1, level, "paired-t", (n,))


def _t_interval(
    mean: float, se: float, df: float, level: float, method: str, n: tuple[int, ...]
) -> Interval:
    if se == 0:
        return Interval(mean, mean, mean, level, method, n, 1.0 if mean == 0 else 0.0)
    t = t_ppf((1 + level) / 2, df)
    p = 2 * t_sf(abs(mean / se), df)
    return Interval(mean, mean - t * se, mean + t * se, level, method, n, p)


def welch_ci(baseline: Sample, candidate: Sample, level: float = 0.95) -> Interval:
    """Difference of means (candidate - baseline), Welch's unequal-variance t interval.

    Equal to `scipy.stats.ttest_ind(candidate, baseline, equal_var=False)
    .confidence_interval(level)`.
    """
    level = check_level(level)
    a, b = as_array(baseline, "baseline"), as_array(candidate, "candidate")
    n = (int(a.size), int(b.size))
    if min(n) < 2:
        est = float(b.mean() - a.mean()) if min(n) else math.nan
        return unbounded(est, level, "welch-t", n)
    va, vb = float(a.var(ddof=1)) / n[0], float(b.var(ddof=1)) / n[1]
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n[0] - 1) + vb**2 / (n[1] - 1)) if se else 1.0
    return _t_interval(float(b.mean() - a.mean()), se, df, level, "welch-t", n)


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for one proportion (no continuity correction)."""
    z = norm_ppf((1 + level) / 2)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def proportion_diff_ci(
    baseline_successes: int,
    baseline_n: int,
    candidate_successes: int,
    candidate_n: int,
    level: float = 0.95,
    method: str = "newcombe",
) -> Interval:
    """Difference of two proportions (candidate - baseline).

    `newcombe` (default): Newcombe's hybrid score interval (1998, method 10) built from the two
    Wilson intervals; good coverage even for rates near 0 or 1, e.g. error rates.
    `wald`: the textbook normal interval; collapses to zero width when a rate is 0 or 1.
    """
    level = check_level(level)
    for s, n, name in (
        (baseline_successes, baseline_n, "baseline"),
        (candidate_successes, candidate_n, "candidate"),
    ):
        if n < 0 or not 0 <= s <= max(n, 0):
            raise ValueError(f"{name}: need 0 <= successes <= n, got {s} of {n}")
    ns = (baseline_n, candidate_n)
    if min(ns) == 0:
        return unbounded(math.nan, level, method, ns)
    p1, p2 = baseline_successes / baseline_n, candidate_successes / candidate_n
    d = p2 - p1
    if method == "wald":
        z = norm_ppf((1 + level) / 2)
        se = math.sqrt(p1 * (1 - p1) / baseline_n + p2 * (1 - p2) / candidate_n)
        return Interval(d, d - z * se, d + z * se, level, "wald", ns)
    if method != "newcombe":
        raise ValueError(f"unknown method {method!r}: use 'newcombe' or 'wald'")
    l1, u1 = wilson_interval(baseline_successes, baseline_n, level)
    l2, u2 = wilson_interval(candidate_successes, candidate_n, level)
    lower = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return Interval(d, lower, upper, level, "newcombe", ns)


@dataclass(frozen=True, slots=True)
class SRMResult:
    """Sample-ratio-mismatch check: are the observed arm counts plausible under the weights?"""

    statistic: float
    p_value: float
    mismatch: bool
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    threshold: float


def srm_test(
    observed: Sequence[int], weights: Sequence[float], threshold: float = 0.001
) -> SRMResult:
    """Pearson chi-square of arm counts against the configured weights.

    A tiny p-value (default threshold 0.001, the industry convention) means assignment or
    logging is broken, and any comparison between the arms is untrustworthy.
    """
    obs = np.asarray(observed, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if obs.shape != w.shape or obs.ndim != 1 or obs.size < 2:
        raise ValueError("observed and weights need the same length, at least 2 arms")
    if np.any(obs < 0) or np.any(w <= 0):
        raise ValueError("counts must be >= 0 and weights > 0")
    total = float(obs.sum())
    expected = total * w / w.sum()
    if total == 0:
        return SRMResult(0.0, 1.0, False, tuple(int(x) for x in obs), tuple(expected), threshold)
    # Pearson's statistic and its chi-square tail directly: the same numbers as
    # scipy.stats.chisquare at a fraction of its cost (the rollout judge runs this per look).
    stat = float(((obs - expected) ** 2 / expected).sum())
    p = chi2_sf(stat, obs.size - 1)
    return SRMResult(
        float(stat),
        float(p),
        bool(p < threshold),
        tuple(int(x) for x in obs),
        tuple(float(x) for x in expected),
        threshold,
    )
