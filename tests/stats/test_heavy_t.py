"""The heavy-tailed t interval and Welch t for relative differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from rampway.stats import (
    ArmSummary,
    heavy_tailed_t_ci,
    kurtosis_df,
    paired_t_ci,
    relative_difference,
)
from rampway.stats._relative import welch_df


def test_normal_data_keep_about_n_minus_1_degrees_of_freedom() -> None:
    x = np.random.default_rng(1).normal(0, 1, 200)
    assert kurtosis_df(x) > 150
    ours = heavy_tailed_t_ci(x)
    classic = paired_t_ci(np.zeros_like(x), x)
    assert ours.upper - ours.lower == pytest.approx(classic.upper - classic.lower, rel=0.01)


def test_zero_inflated_differences_get_few_degrees_of_freedom() -> None:
    x = np.r_[np.zeros(90), np.random.default_rng(2).normal(0, 30, 10)]
    df = kurtosis_df(x)
    assert 5 < df < 20
    ours = heavy_tailed_t_ci(x)
    classic = paired_t_ci(np.zeros_like(x), x)
    assert (ours.upper - ours.lower) > 1.05 * (classic.upper - classic.lower)
    assert ours.estimate == pytest.approx(x.mean())


def test_degenerate_samples() -> None:
    assert heavy_tailed_t_ci([1.0, 1.0, 1.0]).lower == 1.0
    assert not heavy_tailed_t_ci([2.0]).informative
    assert math.isnan(kurtosis_df([2.0]))


def test_heavy_t_covers_95_percent_of_skewed_means() -> None:
    rng = np.random.default_rng(3)
    hits = sum(
        heavy_tailed_t_ci(rng.exponential(1.0, 60)).contains(1.0) for _ in range(1_000)
    )
    assert hits >= 930


def test_relative_difference_uses_welch_t_with_gbstats_degrees_of_freedom() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.lognormal(0, 0.5, 15), rng.lognormal(0.1, 0.9, 25)
    base, cand = ArmSummary.from_sample(a), ArmSummary.from_sample(b)
    # on raw variances, the same Welch-Satterthwaite df as scipy's unequal-variance t test
    assert welch_df(base, cand) == pytest.approx(sps.ttest_ind(b, a, equal_var=False).df)
    ci = relative_difference(base, cand)
    t = sps.t.ppf(0.975, welch_df(base, cand))
    se = (ci.upper - ci.lower) / (2 * t)
    expected = math.sqrt(
        cand.variance / (cand.n * base.mean**2)
        + cand.mean**2 * base.variance / (base.n * base.mean**4)
    )
    assert se == pytest.approx(expected)
