"""Relative differences (candidate / baseline - 1) with delta-method intervals.

For independent arms with means m_a (baseline), m_b (candidate), the first-order (delta
method) variance of r = m_b / m_a - 1 is

    Var(r) ~= var_b / (n_b m_a^2) + m_b^2 var_a / (n_a m_a^4)

(the same approximation GrowthBook's frequentist and sequential engines use for lift). The
fixed-horizon interval is r +/- t * sqrt(Var(r)), t the Student quantile at Welch-Satterthwaite
degrees of freedom computed from the arms' raw variances, exactly as gbstats' `TTest.dof`:

    df = (var_b/n_b + var_a/n_a)^2 / (var_b^2/(n_b^2 (n_b-1)) + var_a^2/(n_a^2 (n_a-1)))

(with hundreds of units per arm t and z differ by < 1%; with 20 they differ by 5%, and z
would be too narrow). The sequential interval uses the always-valid half-width of
`rampway.stats._sequential` with Var(r) in place of the variance of a difference — a normal
mixture, so no t there. A baseline mean of 0 makes the ratio undefined: the interval is
unbounded.
"""

from __future__ import annotations

import math

from rampway.stats._dist import t_ppf, t_sf
from rampway.stats._sequential import (
    DEFAULT_TUNING_N,
    ArmSummary,
    SequentialInterval,
    check_alpha,
    cs_halfwidth,
    resolve_rho2,
)
from rampway.stats._types import Interval, check_level, unbounded


def relative_variance(baseline: ArmSummary, candidate: ArmSummary) -> float:
    """Delta-method variance of candidate.mean / baseline.mean."""
    ma, mb = baseline.mean, candidate.mean
    return candidate.variance / (candidate.n * ma**2) + mb**2 * baseline.variance / (
        baseline.n * ma**4
    )


def welch_df(baseline: ArmSummary, candidate: ArmSummary) -> float:
    """Welch-Satterthwaite degrees of freedom from the arms' variances (gbstats `TTest.dof`)."""
    va, vb = baseline.variance / baseline.n, candidate.variance / candidate.n
    denominator = va**2 / (baseline.n - 1) + vb**2 / (candidate.n - 1)
    return (va + vb) ** 2 / denominator if denominator > 0 else math.inf


def _usable(baseline: ArmSummary, candidate: ArmSummary, min_n: int) -> bool:
    return (
        min(baseline.n, candidate.n) >= max(min_n, 2)
        and baseline.mean != 0
        and all(
            math.isfinite(x)
            for x in (baseline.mean, candidate.mean, baseline.variance, candidate.variance)
        )
    )


def relative_difference(
    baseline: ArmSummary, candidate: ArmSummary, level: float = 0.95
) -> Interval:
    """candidate/baseline - 1 with a fixed-horizon delta-method Welch t interval."""
    level = check_level(level)
    ns = (baseline.n, candidate.n)
    if not _usable(baseline, candidate, 2):
        est = candidate.mean / baseline.mean - 1 if baseline.mean else math.nan
        return unbounded(est, level, "delta-relative", ns)
    est = candidate.mean / baseline.mean - 1
    se = math.sqrt(relative_variance(baseline, candidate))
    df = welch_df(baseline, candidate)
    t = t_ppf((1 + level) / 2, df)
    p = 2 * t_sf(abs(est / se), df) if se > 0 else (1.0 if est == 0 else 0.0)
    return Interval(est, est - t * se, est + t * se, level, "delta-relative", ns, p)


def sequential_relative_difference(
    baseline: ArmSummary,
    candidate: ArmSummary,
    *,
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
    mixture_variance: float | None = None,
    min_n: int = 2,
) -> SequentialInterval:
    """candidate/baseline - 1 with an always-valid (asymptotic CS) delta-method interval."""
    check_alpha(alpha)
    rho2 = resolve_rho2(alpha, tuning_n, mixture_variance)
    na, nb = baseline.n, candidate.n
    if not _usable(baseline, candidate, min_n):
        est = candidate.mean / baseline.mean - 1 if baseline.mean else math.nan
        return SequentialInterval(est, -math.inf, math.inf, alpha, na, nb, "delta-relative-cs")
    est = candidate.mean / baseline.mean - 1
    half = cs_halfwidth(relative_variance(baseline, candidate), na + nb, alpha, rho2)
    return SequentialInterval(est, est - half, est + half, alpha, na, nb, "delta-relative-cs")
