"""Shared statistics for the eval gate, the rollout judge and experiment analysis. Pure numpy/scipy.

Differences are candidate - baseline; ratios candidate / baseline. Every function returns an
estimate with an interval and the sample sizes; an unbounded interval means "not enough data"
and must be read as inconclusive. Input arrays with NaN, the wrong shape or mismatched pairs
are programming errors (ValueError).

    paired_t_ci(baseline, candidate)             per-case mean difference, Student t
    paired_bootstrap_ci(baseline, candidate)     same, bootstrap (BCa or percentile)
    heavy_tailed_t_ci(diffs)                     mean, t with kurtosis-adjusted df
    quantile_diff_ci(a, b, 0.95, ratio=True)     p95 latency ratio, bootstrap
    cluster_quantile_woodruff(a, ua, b, ub, .95) p95 over units, Woodruff (no resampling)
    welch_ci(a, b)                               two-sample mean difference
    proportion_diff_ci(sa, na, sb, nb)           rate difference (Newcombe or Wald)
    relative_difference(arm_a, arm_b)            lift with a delta-method interval
    srm_test(counts, weights)                    sample-ratio mismatch
    sequential_diff(arm_a, arm_b)                always-valid CS, safe under peeking
"""

from rampway.stats._bootstrap import bootstrap_ci, paired_bootstrap_ci, quantile_diff_ci
from rampway.stats._classic import (
    SRMResult,
    paired_t_ci,
    proportion_diff_ci,
    srm_test,
    welch_ci,
    wilson_interval,
)
from rampway.stats._heavy_t import heavy_tailed_t_ci, kurtosis_df
from rampway.stats._relative import (
    relative_difference,
    relative_variance,
    sequential_relative_difference,
)
from rampway.stats._sequential import (
    DEFAULT_TUNING_N,
    ArmSummary,
    SequentialInterval,
    cs_halfwidth,
    mixture_variance,
    sequential_diff,
    sequential_diff_proportions,
)
from rampway.stats._types import Interval
from rampway.stats._units import (
    QuantileComparison,
    cluster_quantile_ci,
    cluster_quantile_woodruff,
    ratio_summary,
    sequential_from_se,
    summary_diff_ci,
)

__all__ = [
    "ArmSummary",
    "DEFAULT_TUNING_N",
    "Interval",
    "QuantileComparison",
    "SRMResult",
    "SequentialInterval",
    "bootstrap_ci",
    "cluster_quantile_ci",
    "cluster_quantile_woodruff",
    "cs_halfwidth",
    "heavy_tailed_t_ci",
    "kurtosis_df",
    "mixture_variance",
    "paired_bootstrap_ci",
    "paired_t_ci",
    "proportion_diff_ci",
    "quantile_diff_ci",
    "ratio_summary",
    "relative_difference",
    "relative_variance",
    "sequential_diff",
    "sequential_diff_proportions",
    "sequential_from_se",
    "sequential_relative_difference",
    "srm_test",
    "summary_diff_ci",
    "welch_ci",
    "wilson_interval",
]
