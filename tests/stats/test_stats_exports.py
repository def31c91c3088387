"""The public surface of rampway.stats is exactly what we mean to export (STYLE #12)."""

import rampway.stats as pkg

EXPECTED = {
    "summary_diff_ci",
    "sequential_from_se",
    "ratio_summary",
    "cluster_quantile_ci",
    "cluster_quantile_woodruff",
    "QuantileComparison",
    "ArmSummary",
    "DEFAULT_TUNING_N",
    "Interval",
    "SRMResult",
    "SequentialInterval",
    "bootstrap_ci",
    "cs_halfwidth",
    "heavy_tailed_t_ci",
    "kurtosis_df",
    "mixture_variance",
    "paired_bootstrap_ci",
    "paired_t_ci",
    "proportion_diff_ci",
    "quantile_diff_ci",
    "relative_difference",
    "relative_variance",
    "sequential_diff",
    "sequential_diff_proportions",
    "sequential_relative_difference",
    "srm_test",
    "welch_ci",
    "wilson_interval",
}


def test_exported_members() -> None:
    assert set(pkg.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(pkg, name) is not None
    public = {name for name in vars(pkg) if not name.startswith("_")}
    assert public == EXPECTED, "export it in __all__ or make it private"
