"""Always-valid confidence sequences: safe under peeking where a fixed test is not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampway.stats import (
    ArmSummary,
    cs_halfwidth,
    mixture_variance,
    relative_difference,
    sequential_diff,
    sequential_diff_proportions,
    sequential_relative_difference,
)

ALPHA = 0.05
SIMS, LOOKS = 300, 50
SLACK = 2 * math.sqrt(ALPHA * (1 - ALPHA) / SIMS)  # two binomial standard errors


def running_stats(x: np.ndarray, looks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance of x[:, :n] for every n in looks (vectorized over sims)."""
    s1, s2 = np.cumsum(x, axis=1), np.cumsum(x * x, axis=1)
    n = looks.astype(float)
    mean = s1[:, looks - 1] / n
    var = (s2[:, looks - 1] - n * mean**2) / (n - 1)
    return mean, var


def peeking_false_positive_rates(
    a: np.ndarray, b: np.ndarray, looks: np.ndarray
) -> tuple[float, float]:
    """(CS, fixed z-test) share of A/A sims that ever exclude 0 when looking at every step."""
    ma, va = running_stats(a, looks)
    mb, vb = running_stats(b, looks)
    v = va / looks + vb / looks
    diff = mb - ma
    half = cs_halfwidth(v, 2 * looks, ALPHA, mixture_variance(ALPHA))
    cs_reject = (np.abs(diff) > half).any(axis=1).mean()
    z_reject = (np.abs(diff) > 1.959964 * np.sqrt(v)).any(axis=1).mean()
    return float(cs_reject), float(z_reject)


def test_aa_with_peeking_keeps_false_positives_below_alpha_for_means() -> None:
    rng = np.random.default_rng(11)
    looks = np.arange(1, LOOKS + 1) * 40
    a = rng.lognormal(0, 0.8, (SIMS, looks[-1]))  # skewed, like latency
    b = rng.lognormal(0, 0.8, (SIMS, looks[-1]))
    cs_rate, z_rate = peeking_false_positive_rates(a, b, looks)
    assert cs_rate <= ALPHA + SLACK
    assert z_rate > ALPHA + 3 * SLACK  # the naive test with the same peeking does not


def test_aa_with_peeking_keeps_false_positives_below_alpha_for_rates() -> None:
    rng = np.random.default_rng(12)
    looks = np.arange(1, LOOKS + 1) * 100
    a = (rng.random((SIMS, looks[-1])) < 0.05).astype(float)  # a 5% error rate
    b = (rng.random((SIMS, looks[-1])) < 0.05).astype(float)
    cs_rate, z_rate = peeking_false_positive_rates(a, b, looks)
    assert cs_rate <= ALPHA + SLACK
    assert z_rate > ALPHA + 3 * SLACK


def test_vectorized_halfwidth_equals_the_public_api() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 500), rng.normal(0.1, 2, 700)
    cs = sequential_diff(ArmSummary.from_sample(a), ArmSummary.from_sample(b))
    v = a.var(ddof=1) / 500 + b.var(ddof=1) / 700
    half = cs_halfwidth(np.array([v]), np.array([1_200]), ALPHA, mixture_variance(ALPHA))
    assert cs.upper - cs.estimate == pytest.approx(half[0])
    assert (cs.n_baseline, cs.n_candidate) == (500, 700)


def test_formula_matches_the_paper_written_out_by_hand() -> None:
    base, cand = ArmSummary(2_000, 0.30, 0.21), ArmSummary(1_000, 0.33, 0.2211)
    cs = sequential_diff(base, cand, alpha=0.1, tuning_n=10_000)
    big_n = 3_000
    rho2 = (-2 * math.log(0.1) + math.log(-2 * math.log(0.1) + 1)) / 10_000
    s2 = big_n * (0.2211 / 1_000 + 0.21 / 2_000)
    half = math.sqrt(s2) * math.sqrt(
        2 * (big_n * rho2 + 1) / (big_n**2 * rho2) * math.log(math.sqrt(big_n * rho2 + 1) / 0.1)
    )
    assert (cs.estimate, cs.lower, cs.upper) == pytest.approx((0.03, 0.03 - half, 0.03 + half))


def test_cs_is_wider_than_fixed_interval_but_detects_real_effects() -> None:
    rng = np.random.default_rng(5)
    detected = 0
    for _ in range(100):
        a, b = rng.normal(0, 1, 2_000), rng.normal(0.3, 1, 2_000)
        cs = sequential_diff(ArmSummary.from_sample(a), ArmSummary.from_sample(b))
        detected += cs.lower > 0
        fixed_half = 1.959964 * math.sqrt(a.var(ddof=1) / 2_000 + b.var(ddof=1) / 2_000)
        assert cs.upper - cs.estimate > fixed_half
    assert detected >= 95


def test_mixture_variance_tunes_where_the_sequence_is_tightest() -> None:
    base, cand = ArmSummary(2_500, 0.0, 1.0), ArmSummary(2_500, 0.0, 1.0)

    def width(tuning_n: float) -> float:
        cs = sequential_diff(base, cand, tuning_n=tuning_n)
        return cs.upper - cs.lower

    assert width(5_000) < width(250) and width(5_000) < width(100_000)
    explicit = sequential_diff(base, cand, mixture_variance=mixture_variance(ALPHA, 5_000))
    assert explicit.upper - explicit.lower == pytest.approx(width(5_000))


def test_proportions_and_small_samples() -> None:
    cs = sequential_diff_proportions(50, 1_000, 100, 1_000)
    assert cs.estimate == pytest.approx(0.05) and cs.lower > 0  # doubled error rate
    assert not sequential_diff_proportions(0, 1, 1, 1).informative
    assert not sequential_diff(ArmSummary(10, 1, 1), ArmSummary(10, 2, 1), min_n=50).informative
    with pytest.raises(ValueError, match="alpha"):
        sequential_diff(ArmSummary(10, 1, 1), ArmSummary(10, 2, 1), alpha=5)


def test_relative_difference_delta_method_covers_95_percent() -> None:
    rng = np.random.default_rng(8)
    true_lift = math.exp(0.1) - 1  # lognormal means differ by exp(0.1)
    hits = 0
    for _ in range(1_000):
        a, b = rng.lognormal(0, 0.5, 400), rng.lognormal(0.1, 0.5, 400)
        ci = relative_difference(ArmSummary.from_sample(a), ArmSummary.from_sample(b))
        hits += ci.contains(true_lift)
    assert 930 <= hits <= 970


def test_relative_difference_values_and_zero_baseline() -> None:
    base, cand = ArmSummary(100, 2.0, 1.0), ArmSummary(100, 2.5, 1.0)
    ci = relative_difference(base, cand)
    se = math.sqrt(1.0 / (100 * 4) + 6.25 * 1.0 / (100 * 16))
    t = 1.972017  # Welch t, df = (0.01 + 0.01)^2 / (2 * 0.01^2 / 99) = 198
    assert (ci.estimate, ci.upper - ci.estimate) == pytest.approx((0.25, t * se))
    assert not relative_difference(ArmSummary(100, 0.0, 1.0), cand).informative
    seq = sequential_relative_difference(base, cand)
    assert seq.lower < ci.lower and seq.upper > ci.upper and seq.estimate == pytest.approx(0.25)


def test_sequential_relative_aa_with_peeking() -> None:
    rng = np.random.default_rng(21)
    rejects = 0
    for _ in range(200):
        a, b = rng.lognormal(0, 0.6, 2_000), rng.lognormal(0, 0.6, 2_000)
        for n in range(100, 2_001, 100):
            cs = sequential_relative_difference(
                ArmSummary.from_sample(a[:n]), ArmSummary.from_sample(b[:n])
            )
            if cs.lower > 0 or cs.upper < 0:
                rejects += 1
                break
    assert rejects / 200 <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / 200)
