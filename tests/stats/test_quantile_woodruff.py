"""Woodruff's quantile standard errors over units: they agree with the unit-cluster bootstrap
(which the experiment analysis used before) and cover at their level on clustered data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampway.stats import cluster_quantile_ci, cluster_quantile_woodruff
from rampway.stats._units import clustered_quantile, woodruff_se


def users(rng: np.random.Generator, n: int, icc: float, scale: float = 1.0,
          ) -> tuple[np.ndarray, np.ndarray]:
    """Latencies of `n` users making ~20 alike requests each (log-scale ICC `icc`)."""
    counts = 1 + rng.poisson(19, n)
    unit = np.repeat(np.arange(n), counts)
    s_u = 0.5 * math.sqrt(icc / (1 - icc))
    log = s_u * rng.standard_normal(n)[unit] + 0.5 * rng.standard_normal(unit.size)
    return scale * 800 * np.exp(log), unit


@pytest.mark.parametrize("icc", [1e-4, 1 / 6, 0.5])
def test_standard_errors_match_the_unit_cluster_bootstrap(icc: float) -> None:
    rng = np.random.default_rng(3)
    (a, ua), (b, ub) = users(rng, 400, icc), users(rng, 400, icc)
    boot = cluster_quantile_ci(a, ua, b, ub, 0.95, n_resamples=1500, seed=4)
    wood = cluster_quantile_woodruff(a, ua, b, ub, 0.95)
    assert wood.difference_se == pytest.approx(boot.difference_se, rel=0.15)
    assert wood.ratio_se == pytest.approx(boot.ratio_se, rel=0.15)
    assert wood.difference.estimate == pytest.approx(boot.difference.estimate)
    assert wood.difference.n == (400, 400)


def test_clustering_widens_the_interval() -> None:
    rng = np.random.default_rng(5)
    a, ua = users(rng, 300, 0.5)
    _, clustered, _ = clustered_quantile(a, ua, 0.95)
    _, independent, _ = clustered_quantile(a, np.arange(a.size), 0.95)
    assert clustered > 1.5 * independent


def test_aa_95_percent_intervals_cover_zero_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(6)
    covered = 0
    for _ in range(400):
        (a, ua), (b, ub) = users(rng, 150, 1 / 6), users(rng, 150, 1 / 6)
        covered += cluster_quantile_woodruff(a, ua, b, ub, 0.95).difference.contains(0.0)
    assert 0.92 <= covered / 400 <= 0.98, covered


def test_a_slower_arm_is_seen_and_too_few_units_is_unbounded() -> None:
    rng = np.random.default_rng(7)
    (a, ua), (b, ub) = users(rng, 500, 1 / 6), users(rng, 500, 1 / 6, scale=1.4)
    slower = cluster_quantile_woodruff(a, ua, b, ub, 0.95)
    assert slower.difference.lower > 0 and slower.ratio.contains(1.4)
    one = cluster_quantile_woodruff(a[:5], np.zeros(5), b, ub, 0.95)
    assert not one.difference.informative and one.difference.n == (1, 500)
    assert woodruff_se(lambda p: p, 0.5, math.inf) == math.inf
