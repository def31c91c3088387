"""Always-valid inference: asymptotic confidence sequences for a difference between two arms.

A fixed-horizon 95% interval is only valid if you look once. A rollout judge looks every
minute; peeking at fixed intervals 50 times raises the false-alarm rate from 5% to ~30%. A
confidence sequence (CS) holds at every sample size simultaneously: P(the true difference
ever leaves the interval) <= alpha, however often one looks — the method GrowthBook and Eppo
use for sequential testing and guardrails.

Formula (Waudby-Smith, Arnold, Wu, Ramdas, Howard et al., "Time-uniform central limit theory
and asymptotic confidence sequences", arXiv:2103.06476, eq. 9; the normal-mixture boundary of
Howard et al. 2021), exactly as in GrowthBook's gbstats:

    N     = n_baseline + n_candidate                    (total units so far)
    V     = var_b / n_b + var_a / n_a                   (variance of the estimate)
    s^2   = N * V                                       (per-unit variance scale)
    rho^2 = (-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N*  (mixture variance, tuned at N*)
    half  = sqrt(s^2) * sqrt( 2 (N rho^2 + 1) / (N^2 rho^2) * ln( sqrt(N rho^2 + 1) / alpha ) )
    CS    = estimate +/- half

`rho^2` is the variance of the Gaussian mixture over effect sizes; the CS is tightest near
`N = N*` (`tuning_n`, default 5,000 total units, GrowthBook's default), and it may be given
directly as `mixture_variance`. The guarantee is asymptotic (it relies on the CLT for each
arm's mean), so very small samples should not decide: `min_n` per arm (default 2) returns an
unbounded interval below it, and the judge adds its own minimum sample per guardrail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rampway.stats._types import Sample, as_array

DEFAULT_TUNING_N = 5_000


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """Sufficient statistics of one arm: count, mean and sample variance (ddof=1)."""

    n: int
    mean: float
    variance: float

    @classmethod
    def from_sample(cls, sample: Sample) -> ArmSummary:
        x = as_array(sample, "sample")
        if x.size == 0:
            return cls(0, math.nan, math.nan)
        return cls(int(x.size), float(x.mean()), float(x.var(ddof=1)) if x.size > 1 else math.nan)

    @classmethod
    def from_proportion(cls, successes: int, n: int) -> ArmSummary:
        """A rate (errors, refusals, thumbs-up) as a Bernoulli mean; variance p(1 - p)."""
        if n < 0 or not 0 <= successes <= max(n, 0):
            raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
        if n == 0:
            return cls(0, math.nan, math.nan)
        p = successes / n
        return cls(n, p, p * (1 - p))


@dataclass(frozen=True, slots=True)
class SequentialInterval:
    """An always-valid interval for candidate - baseline (or a relative change) at this look."""

    estimate: float
    lower: float
    upper: float
    alpha: float
    n_baseline: int
    n_candidate: int
    method: str

    @property
    def informative(self) -> bool:
        return math.isfinite(self.lower) and math.isfinite(self.upper)

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "alpha": self.alpha,
            "n_baseline": self.n_baseline,
            "n_candidate": self.n_candidate,
            "method": self.method,
        }


def mixture_variance(alpha: float, tuning_n: float = DEFAULT_TUNING_N) -> float:
    """rho^2 that makes the CS tightest at `tuning_n` total units (eq. 161 of the paper)."""
    check_alpha(alpha)
    if tuning_n <= 0:
        raise ValueError("tuning_n must be positive")
    two_log = -2 * math.log(alpha)
    return (two_log + math.log(two_log + 1)) / tuning_n


def cs_halfwidth(variance_of_estimate: Any, n_total: Any, alpha: float, rho2: float) -> Any:
    """Half-width of the asymptotic CS; works on floats and numpy arrays alike."""
    n = np.asarray(n_total, dtype=np.float64)
    s2 = np.asarray(variance_of_estimate, dtype=np.float64) * n
    first = 2 * (n * rho2 + 1) / (n**2 * rho2)
    second = np.log(np.sqrt(n * rho2 + 1) / alpha)
    half = np.sqrt(s2) * np.sqrt(first * second)
    return float(half) if half.ndim == 0 else half


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")


def resolve_rho2(alpha: float, tuning_n: float, mixture: float | None) -> float:
    if mixture is None:
        return mixture_variance(alpha, tuning_n)
    if mixture <= 0:
        raise ValueError("mixture_variance must be positive")
    return mixture


def sequential_diff(
    baseline: ArmSummary,
    candidate: ArmSummary,
    *,
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
    mixture_variance: float | None = None,
    min_n: int = 2,
) -> SequentialInterval:
    """Always-valid CS for candidate.mean - baseline.mean (means or proportions)."""
    check_alpha(alpha)
    rho2 = resolve_rho2(alpha, tuning_n, mixture_variance)
    na, nb = baseline.n, candidate.n
    est = candidate.mean - baseline.mean if min(na, nb) > 0 else math.nan
    if min(na, nb) < max(min_n, 2) or not math.isfinite(est):
        return SequentialInterval(est, -math.inf, math.inf, alpha, na, nb, "asymptotic-cs")
    v = candidate.variance / nb + baseline.variance / na
    half = cs_halfwidth(v, na + nb, alpha, rho2)
    return SequentialInterval(est, est - half, est + half, alpha, na, nb, "asymptotic-cs")


def sequential_diff_proportions(
    baseline_successes: int,
    baseline_n: int,
    candidate_successes: int,
    candidate_n: int,
    **kwargs: Any,
) -> SequentialInterval:
    """`sequential_diff` for two rates, e.g. error rate of candidate vs baseline."""
    return sequential_diff(
        ArmSummary.from_proportion(baseline_successes, baseline_n),
        ArmSummary.from_proportion(candidate_successes, candidate_n),
        **kwargs,
    )
