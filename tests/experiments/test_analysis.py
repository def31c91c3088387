"""Experiment analysis: statistics against reference values, A/A false positives under peeking,
planted effects, guardrails, SRM, retention, the report; end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from rampway.events.tables import feedback_events, request_events
from rampway.events.values import with_shape_ids
from rampway.experiments._duration import duration_text
from rampway.experiments.analysis import (
    SRM_THRESHOLD,
    UnitSample,
    analyze,
    check_srm,
    compare,
    evaluate,
    good_direction,
    unit_sample,
)
from rampway.experiments.extract import ArmUnits, Extraction
from rampway.experiments.metrics import metric_def
from rampway.experiments.model import Arm, ExperimentRecord, Guardrail
from rampway.experiments.report import (
    Decision,
    MetricResult,
    Verdict,
    interval_bar,
    render_text,
    shown,
    to_json,
)
from rampway.stats import (
    ArmSummary,
    proportion_diff_ci,
    quantile_diff_ci,
    relative_difference,
    sequential_diff,
)
from rampway.stats._units import (
    cluster_quantile_ci,
    ratio_summary,
    sequential_from_se,
    summary_diff_ci,
)
from rampway.store import Store

T0 = 1_767_225_600.0
DAY = 86_400.0
CONVERSION = metric_def("conversion:signup")
ERRORS = metric_def("error_rate")
COST = metric_def("cost_per_unit")


def record(n_arms: int = 2, **overrides: Any) -> ExperimentRecord:
    names = ["control", "friendly", "terse", "formal"][:n_arms]
    share = 10_000 // n_arms
    base: dict[str, Any] = {
        "id": 7, "name": "tone", "feature": "support-bot", "status": "running",
        "arms": tuple(Arm(n, f"support-bot@{i}", share) for i, n in enumerate(names)),
        "coverage_bp": 10_000, "salt": "s", "unit": "user", "primary": "conversion:signup",
        "secondary": (), "guardrails": (Guardrail("error_rate", "increase"),),
        "alpha": 0.05, "min_runtime_s": 7 * DAY, "started_at": T0, "stopped_at": None,
    }
    base.update(overrides)
    return ExperimentRecord(**base)


def simulated_arm(name: str, n: int, rng: np.random.Generator, *, conversion: float = 0.2,
                  error: float = 0.02, latency: float = 0.0) -> ArmUnits:
    """n units: Poisson requests, a per-unit error propensity around `error` (so requests of a
    unit are correlated), conversions at rate `conversion`; latencies only if `latency`."""
    requests = rng.poisson(3, n) + 1.0
    propensity = rng.beta(2, 2 / error - 2, n)
    errors = rng.binomial(requests.astype(int), propensity).astype(float)
    first = T0 + rng.uniform(0, 9 * DAY, n)
    columns = {
        "first_ts": first, "last_ts": first + rng.exponential(DAY, n), "requests": requests,
        "errors": errors, "ok_requests": requests - errors, "cost_usd_sum": requests * 0.01,
        "converted:signup": (rng.random(n) < conversion).astype(float),
    }
    if not latency:
        return ArmUnits(name, name, columns)
    units = np.repeat(np.arange(n), (requests - errors).astype(int))
    values = rng.lognormal(math.log(latency), 0.5, units.size) * rng.lognormal(0, 0.3, n)[units]
    return ArmUnits(name, name, columns, values, units)


def extraction(*arms: ArmUnits, multiple: int = 0) -> Extraction:
    return Extraction(tuple(arms), T0, T0 + 10 * DAY, multiple, 3 * multiple)


# ------------------------------------------------------------------ reference values


def test_mean_metrics_use_welch_exactly_as_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0, 1, 80), rng.lognormal(0.2, 1, 95)
    r = compare(COST, UnitSample(a), UnitSample(b), alpha=0.05, good="decrease")
    ref = sps.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (r.absolute.lower, r.absolute.upper) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert r.absolute.estimate == pytest.approx(b.mean() - a.mean())
    assert (r.control_mean, r.treatment_mean) == pytest.approx((a.mean(), b.mean()))


def test_proportions_use_newcombe_and_reproduce_the_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80 -> 0.2 (0.0524, 0.3339)
    control = UnitSample(np.r_[np.ones(48), np.zeros(32)])
    treatment = UnitSample(np.r_[np.ones(56), np.zeros(14)])
    r = compare(CONVERSION, control, treatment, alpha=0.05, good="increase", min_units=10)
    assert r.absolute.method == "newcombe"
    assert r.absolute.estimate == pytest.approx(0.2)
    assert (r.absolute.lower, r.absolute.upper) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert r.absolute == proportion_diff_ci(48, 80, 56, 70)
    relative = relative_difference(ArmSummary.from_proportion(48, 80),
                                   ArmSummary.from_proportion(56, 70))
    assert r.relative == relative and r.relative.estimate == pytest.approx(0.8 / 0.6 - 1)


def _clustered_units(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    requests = rng.poisson(5, n) + 1.0
    errors = rng.binomial(requests.astype(int), rng.beta(0.5, 4.5, n)).astype(float)
    return errors, requests


def test_delta_method_ratio_variance_matches_a_large_unit_bootstrap() -> None:
    rng = np.random.default_rng(2)
    x, y = _clustered_units(600, rng)
    s = ratio_summary(x, y)
    assert s.mean == pytest.approx(x.sum() / y.sum())
    draws = rng.integers(0, x.size, (20_000, x.size))
    boot = x[draws].sum(axis=1) / y[draws].sum(axis=1)
    assert math.sqrt(s.variance / s.n) == pytest.approx(boot.std(ddof=1), rel=0.04)
    # A per-request analysis would understate it: the units' requests are correlated.
    p = x.sum() / y.sum()
    assert math.sqrt(p * (1 - p) / y.sum()) < 0.85 * boot.std(ddof=1)


def test_delta_method_lift_matches_a_large_bootstrap_of_the_ratio_of_ratios() -> None:
    rng = np.random.default_rng(3)
    (xa, ya), (xb, yb) = _clustered_units(500, rng), _clustered_units(500, rng)
    r = compare(ERRORS, UnitSample(xa, ya), UnitSample(xb, yb), alpha=0.05, good="decrease")
    da, db = rng.integers(0, 500, (20_000, 500)), rng.integers(0, 500, (20_000, 500))
    lift = (xb[db].sum(1) / yb[db].sum(1)) / (xa[da].sum(1) / ya[da].sum(1)) - 1
    se = (r.relative.upper - r.relative.lower) / (2 * 1.959964)
    assert se == pytest.approx(lift.std(ddof=1), rel=0.06)
    assert r.relative.estimate == pytest.approx((xb.sum() / yb.sum()) / (xa.sum() / ya.sum()) - 1)
    diff = xb[db].sum(1) / yb[db].sum(1) - xa[da].sum(1) / ya[da].sum(1)
    se_diff = (r.absolute.upper - r.absolute.lower) / (2 * 1.959964)
    assert se_diff == pytest.approx(diff.std(ddof=1), rel=0.05)


def test_summary_interval_is_the_normal_interval_and_cs_matches_sequential_diff() -> None:
    a, b = ArmSummary(400, 0.10, 0.09), ArmSummary(500, 0.13, 0.11)
    i = summary_diff_ci(a, b, level=0.9)
    se = math.sqrt(0.09 / 400 + 0.11 / 500)
    z = sps.norm.ppf(0.95)
    assert (i.lower, i.upper) == pytest.approx((0.03 - z * se, 0.03 + z * se))
    assert i.p_value == pytest.approx(2 * sps.norm.sf(0.03 / se))
    via_se = sequential_from_se(0.03, se, 400, 500, alpha=0.1)
    direct = sequential_diff(a, b, alpha=0.1)
    assert (via_se.lower, via_se.upper) == pytest.approx((direct.lower, direct.upper))
    assert not summary_diff_ci(ArmSummary(1, 0.1, math.nan), b).informative
    assert ratio_summary([1.0, 2.0], [0.0, 0.0]).n == 2
    assert math.isnan(ratio_summary([1.0, 2.0], [0.0, 0.0]).mean)


def test_cluster_bootstrap_with_one_value_per_unit_is_the_plain_bootstrap() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.lognormal(5, 0.5, 150), rng.lognormal(5.1, 0.5, 170)
    got = cluster_quantile_ci(a, np.arange(a.size), b, np.arange(b.size), 0.95,
                              n_resamples=500, seed=9)
    for ratio, interval in ((False, got.difference), (True, got.ratio)):
        ref = quantile_diff_ci(a, b, 0.95, ratio=ratio, method="percentile", n_resamples=500,
                               seed=9)
        assert (interval.estimate, interval.lower, interval.upper) == pytest.approx(
            (ref.estimate, ref.lower, ref.upper), rel=1e-12)


def test_cluster_bootstrap_widens_when_a_units_requests_are_alike() -> None:
    rng = np.random.default_rng(5)

    def arm(n: int) -> tuple[np.ndarray, np.ndarray]:
        units = np.repeat(np.arange(n), 8)
        return rng.lognormal(5, 0.2, units.size) * rng.lognormal(0, 0.6, n)[units], units

    (a, ua), (b, ub) = arm(120), arm(120)
    clustered = cluster_quantile_ci(a, ua, b, ub, 0.95, n_resamples=400, seed=1).difference
    plain = quantile_diff_ci(a, b, 0.95, method="percentile", n_resamples=400, seed=1)
    assert clustered.estimate == pytest.approx(plain.estimate)
    assert clustered.n == (120, 120) and plain.n == (960, 960)
    assert clustered.upper - clustered.lower > 1.5 * (plain.upper - plain.lower)


def test_latency_p95_compares_quantiles_with_both_intervals() -> None:
    rng = np.random.default_rng(6)
    control = simulated_arm("control", 300, rng, latency=400)
    slower = simulated_arm("slower", 300, rng, latency=600)
    p95 = metric_def("latency_p95")
    r = compare(p95, unit_sample(p95, control, T0), unit_sample(p95, slower, T0), alpha=0.05,
                good="decrease")
    assert r.control_mean == pytest.approx(np.quantile(control.latency, 0.95))
    assert r.relative.estimate == pytest.approx(r.treatment_mean / r.control_mean - 1)
    assert r.sequential.lower > 0 and r.verdict is Verdict.WORSE
    assert r.sequential.lower < r.absolute.lower < r.absolute.upper < r.sequential.upper
    assert (r.n_control, r.n_treatment) == (control.units, slower.units)


def test_the_always_valid_interval_is_never_narrower_than_the_fixed_one() -> None:
    # 0 vs 2 of 2000: the asymptotic CS plugs in p(1 - p) = 0 for the control, and its upper
    # end falls inside Newcombe's (skewed, as a rate near 0 should be)
    control = UnitSample(np.zeros(2000))
    treatment = UnitSample(np.r_[np.ones(2), np.zeros(1998)])
    raw = sequential_diff(ArmSummary.from_proportion(0, 2000),
                          ArmSummary.from_proportion(2, 2000), alpha=0.05)
    r = compare(CONVERSION, control, treatment, alpha=0.05, good="increase")
    assert raw.upper < r.absolute.upper  # what the widening is for
    assert r.sequential.upper == r.absolute.upper
    assert r.sequential.lower == raw.lower < r.absolute.lower < 0
    assert r.verdict is Verdict.NO_DIFFERENCE


# ------------------------------------------------------------------ A/A: false positives


def _aa(definition: Any, draw: Any, rng: np.random.Generator, sims: int, n: int,
        looks: int) -> tuple[float, float, float]:
    """(always-valid with peeking, fixed-horizon at the end, fixed-horizon with peeking)."""
    valid_any = fixed_end = fixed_any = 0
    for _ in range(sims):
        a, b = draw(n, rng), draw(n, rng)
        hit = fixed_hit = fixed_last = False
        for k in np.linspace(n // looks, n, looks).astype(int):
            r = compare(definition, UnitSample(*(x[:k] for x in a)),
                        UnitSample(*(x[:k] for x in b)), alpha=0.05, good="increase")
            hit |= r.verdict in (Verdict.BETTER, Verdict.WORSE)
            fixed_last = not r.absolute.contains(0.0)
            fixed_hit |= fixed_last
        valid_any += hit
        fixed_end += fixed_last
        fixed_any += fixed_hit
    return valid_any / sims, fixed_end / sims, fixed_any / sims


def _conversions(n: int, rng: np.random.Generator) -> tuple[np.ndarray]:
    return ((rng.random(n) < 0.1).astype(float),)


def _costs(n: int, rng: np.random.Generator) -> tuple[np.ndarray]:
    return (rng.gamma(2.0, 0.01, n),)


def test_aa_always_valid_decisions_stay_below_alpha_however_often_one_looks() -> None:
    """200 A/A experiments per metric kind, each looked at 8 times as it grows to 1,600 units
    per arm. Measured (seeded): always-valid false positives 0.0-0.5% per kind; the
    fixed-horizon interval looked at once ~5%, looked at 8 times ~15-20%."""
    rng = np.random.default_rng(2024)
    rates = {
        "proportion": _aa(CONVERSION, _conversions, rng, 200, 1600, 8),
        "ratio": _aa(ERRORS, lambda n, g: _clustered_units(n, g), rng, 200, 1600, 8),
        "mean": _aa(COST, _costs, rng, 200, 1600, 8),
    }
    for kind, (valid, _, _) in rates.items():
        assert valid <= 0.05, (kind, rates)
    fixed_end = np.mean([r[1] for r in rates.values()])
    fixed_peeking = np.mean([r[2] for r in rates.values()])
    assert 0.025 <= fixed_end <= 0.08, rates  # 600 runs: 0.05 +- 3.2 standard errors
    assert fixed_peeking > 0.1, rates  # why the decision doesn't use it


def test_aa_experiments_rarely_ship() -> None:
    rng = np.random.default_rng(11)
    shipped = 0
    rec = record()
    for _ in range(150):
        report = evaluate(rec, extraction(simulated_arm("control", 800, rng),
                                          simulated_arm("friendly", 800, rng)),
                          until=T0 + 10 * DAY)
        shipped += report.decision is Decision.SHIP
        assert report.decision in (Decision.SHIP, Decision.NO_DIFFERENCE, Decision.DONT_SHIP)
    assert shipped / 150 <= 0.05


# ------------------------------------------------------------------ decisions


def _ab(rng: np.random.Generator, n: int = 20_000, **treatment: Any) -> Extraction:
    return extraction(simulated_arm("control", n, rng),
                      simulated_arm("friendly", n, rng, **treatment))


def test_a_planted_ten_percent_conversion_lift_ships() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(12), conversion=0.22),
                      until=T0 + 10 * DAY)
    primary = report.result("conversion:signup", "friendly")
    assert primary.verdict is Verdict.BETTER and primary.sequential.lower > 0
    assert primary.relative.estimate == pytest.approx(0.1, abs=0.04)
    assert report.result("error_rate", "friendly").verdict is Verdict.NO_DIFFERENCE
    assert (report.decision, report.ship_arm) == (Decision.SHIP, "friendly")
    assert report.explanation.startswith("conversion:signup is better in friendly (+")


def test_a_worse_guardrail_blocks_shipping_a_better_primary() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(13), conversion=0.22, error=0.04),
                      until=T0 + 10 * DAY)
    assert report.result("conversion:signup", "friendly").verdict is Verdict.BETTER
    guard = report.result("error_rate", "friendly")
    assert guard.verdict is Verdict.WORSE and guard.good == "decrease"
    assert report.decision is Decision.DONT_SHIP and report.ship_arm is None
    assert report.explanation.startswith("guardrail error_rate is worse in friendly")


def test_a_guardrail_worse_in_its_bad_direction_only() -> None:
    # fewer errors is no problem for bad = increase, and a problem for bad = decrease
    data = _ab(np.random.default_rng(14), error=0.01)
    fine = evaluate(record(), data, until=T0 + 10 * DAY)
    assert fine.result("error_rate", "friendly").verdict is Verdict.BETTER
    flipped = evaluate(record(guardrails=(Guardrail("error_rate", "decrease"),)), data,
                       until=T0 + 10 * DAY)
    assert flipped.result("error_rate", "friendly").verdict is Verdict.WORSE
    assert flipped.decision is Decision.DONT_SHIP


def test_too_early_keeps_running_even_with_a_winner() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(12), conversion=0.22),
                      until=T0 + 2 * DAY)
    assert report.result("conversion:signup", "friendly").verdict is Verdict.BETTER
    assert report.decision is Decision.KEEP_RUNNING
    assert report.explanation == "too early: ran 2.0 days of the 7.0 days minimum runtime"
    short = evaluate(replace(record(), min_runtime_s=3_600.0),
                     _ab(np.random.default_rng(12), conversion=0.22), until=T0 + 1_200)
    assert short.explanation == "too early: ran 20 minutes of the 1.0 hours minimum runtime"
    assert "— ran 20 minutes of 1.0 hours minimum" in render_text(short).splitlines()[0]
    seconds = evaluate(replace(record(), min_runtime_s=3_600.0),
                       _ab(np.random.default_rng(12), n=100), until=T0 + 20)
    assert seconds.explanation == "too early: ran 20 seconds of the 1.0 hours minimum runtime"
    assert "— ran 20 seconds of 1.0 hours minimum" in render_text(seconds).splitlines()[0]


def test_durations_read_as_people_say_them_and_never_round_to_zero() -> None:
    cases = {0: "0 seconds", 1: "1 second", 20: "20 seconds", 59.4: "59 seconds",
             59.6: "1 minute", 1_200: "20 minutes", 3_569: "59 minutes", 3_571: "1.0 hours",
             86_200: "23.9 hours", 86_300: "1.0 days", 7 * DAY: "7.0 days", math.nan: "?"}
    assert {s: duration_text(s) for s in cases} == cases


def test_harm_stops_an_experiment_before_its_minimum_runtime() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(13), error=0.04), until=T0 + DAY)
    assert report.decision is Decision.DONT_SHIP


def test_few_units_are_not_enough_data_never_a_win() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(15), n=30, conversion=0.9),
                      until=T0 + 10 * DAY)
    assert report.result("conversion:signup", "friendly").verdict is Verdict.NOT_ENOUGH_DATA
    assert report.decision is Decision.KEEP_RUNNING
    assert "not enough data" in report.explanation


def test_no_difference_is_said_plainly() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(16), n=3_000), until=T0 + 10 * DAY)
    assert report.result("conversion:signup", "friendly").verdict is Verdict.NO_DIFFERENCE
    assert report.decision is Decision.NO_DIFFERENCE
    assert report.explanation.startswith("no detectable difference on conversion:signup")


def test_a_guardrail_without_data_holds_a_winner_back() -> None:
    rec = record(guardrails=(Guardrail("latency_p95", "increase"),))
    report = evaluate(rec, _ab(np.random.default_rng(12), conversion=0.22), until=T0 + 10 * DAY)
    assert report.result("latency_p95", "friendly").verdict is Verdict.NOT_ENOUGH_DATA
    assert report.decision is Decision.KEEP_RUNNING
    assert report.explanation == ("conversion:signup is better in friendly but guardrail "
                                  "latency_p95 has not enough data yet")


def test_a_worse_primary_is_not_shipped() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(21), conversion=0.17),
                      until=T0 + 10 * DAY)
    assert report.result("conversion:signup", "friendly").verdict is Verdict.WORSE
    assert (report.decision, report.explanation) == (
        Decision.DONT_SHIP, "conversion:signup is worse in friendly")


def test_several_arms_share_alpha_and_the_best_winner_ships() -> None:
    rng = np.random.default_rng(17)
    data = extraction(simulated_arm("control", 20_000, rng),
                      simulated_arm("friendly", 20_000, rng, conversion=0.23),
                      simulated_arm("terse", 20_000, rng, conversion=0.25))
    report = evaluate(record(3, arms=tuple(Arm(n, n, w) for n, w in
                                           (("control", 3334), ("friendly", 3333),
                                            ("terse", 3333)))),
                      data, until=T0 + 10 * DAY)
    assert report.alpha_per_comparison == pytest.approx(0.025)
    assert "Bonferroni across 2 treatment arms" in report.correction
    r = report.result("conversion:signup", "terse")
    assert r.absolute.level == pytest.approx(0.975) and r.sequential.alpha == pytest.approx(0.025)
    assert (report.decision, report.ship_arm) == (Decision.SHIP, "terse")
    assert len(report.results) == 4  # 2 metrics x 2 treatment arms


def test_primary_direction_defaults_and_guardrail_override() -> None:
    assert good_direction("conversion:signup") == "increase"
    assert good_direction("retention:7d") == "increase"
    assert good_direction("feedback:thumbs") == "increase"
    assert good_direction("latency_p95") == "decrease"
    assert good_direction("cost_per_unit") == "decrease"
    rec = record(primary="output_tokens",
                 guardrails=(Guardrail("output_tokens", "decrease"),))
    assert good_direction("output_tokens", rec) == "increase"
    handle = record(primary="feedback:handle_time", better={"feedback:handle_time": "decrease"})
    assert good_direction("feedback:handle_time", handle) == "decrease"  # said so explicitly
    assert good_direction("feedback:handle_time", record()) == "increase"  # the default


# ------------------------------------------------------------------ SRM, retention, exposures


def test_srm_trips_on_a_skewed_split_and_blocks_the_decision() -> None:
    rng = np.random.default_rng(18)
    data = extraction(simulated_arm("control", 5_000, rng),
                      simulated_arm("friendly", 4_600, rng, conversion=0.3))
    report = evaluate(record(), data, until=T0 + 10 * DAY)
    assert report.srm.checked and report.srm.mismatch and report.srm.p_value < SRM_THRESHOLD
    assert report.decision is Decision.DONT_SHIP
    assert report.explanation.startswith("sample ratio mismatch")
    assert report.warnings[0].startswith("SAMPLE RATIO MISMATCH")
    assert "NOT trustworthy" in render_text(report)


def test_srm_passes_a_fair_split_and_is_not_tested_on_a_handful() -> None:
    assert not check_srm([5_000, 4_900], [5_000, 5_000]).mismatch
    assert check_srm([5_000, 4_900], [5_000, 5_000]).checked
    tiny = check_srm([12, 3], [5_000, 5_000])
    assert not tiny.checked and not tiny.mismatch and math.isnan(tiny.p_value)
    assert check_srm([15, 2, 1], [8_000, 1_000, 1_000]).checked is False


def test_retention_counts_only_units_exposed_long_enough_ago() -> None:
    until = T0 + 10 * DAY
    first = T0 + np.array([0, 1, 2, 2.5, 3, 3.5, 8]) * DAY
    gap = np.array([8, 1, 2.9, 4, 7, 6.5, 1]) * DAY  # last request - exposure
    arm = ArmUnits("control", "c", {"first_ts": first, "last_ts": first + gap})
    # 7d: exposed by day 3 (units 0-4); back 7+ days after exposure: units 0 and 4 (exactly 7)
    assert unit_sample(metric_def("retention:7d"), arm, until).values.tolist() == [
        1.0, 0.0, 0.0, 0.0, 1.0]
    # 3d: exposed by day 7 (units 0-5); back 3+ days after: units 0, 3, 4, 5
    assert unit_sample(metric_def("retention:3d"), arm, until).values.tolist() == [
        1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert unit_sample(metric_def("retention:30d"), arm, until).values.size == 0


def test_multiple_exposures_are_counted_and_warned_about() -> None:
    rng = np.random.default_rng(19)
    report = evaluate(record(), extraction(simulated_arm("control", 400, rng),
                                           simulated_arm("friendly", 400, rng), multiple=40),
                      until=T0 + 10 * DAY)
    assert (report.multiple_exposures, report.multiple_exposure_requests) == (40, 120)
    assert report.units == 800
    assert any("40 of 840 units" in w for w in report.warnings)


# ------------------------------------------------------------------ the report


def test_json_has_stable_keys_and_no_nan() -> None:
    rng = np.random.default_rng(20)
    data = extraction(simulated_arm("control", 30, rng), simulated_arm("friendly", 30, rng))
    rec = record(secondary=("retention:30d", "cost_per_unit"))
    doc = to_json(evaluate(rec, data, until=T0 + 10 * DAY))
    text = json.dumps(doc, allow_nan=False)
    assert set(doc) == {
        "experiment", "id", "feature", "status", "unit", "window", "runtime_s", "min_runtime_s",
        "decision", "ship_arm", "explanation", "warnings", "alpha", "alpha_per_comparison",
        "correction", "counts", "arms", "srm", "metrics", "source",
    }
    assert doc["source"] == {"read": "events", "why": None}  # `evaluate` alone reads nothing
    assert doc["counts"] == {"units": 60, "requests": doc["counts"]["requests"],
                             "multiple_exposures": 0, "multiple_exposure_requests": 0}
    retention = next(m for m in doc["metrics"] if m["metric"] == "retention:30d")
    assert retention["verdict"] == "not enough data" and retention["n_control"] == 0
    assert retention["always_valid"]["lower"] is None and '"lower": null' in text
    assert set(retention) == {
        "metric", "kind", "role", "arm", "good", "verdict", "control_mean", "treatment_mean",
        "n_control", "n_treatment", "absolute", "relative", "always_valid",
        "always_valid_relative",
    }


def test_text_leads_with_the_decision_and_plots_each_interval() -> None:
    report = evaluate(record(), _ab(np.random.default_rng(12), conversion=0.22),
                      until=T0 + 10 * DAY)
    text = render_text(report)
    lines = text.splitlines()
    assert lines[1].startswith("DECISION: SHIP FRIENDLY — conversion:signup is better")
    assert "0.95 CI" in text and "always-valid CI" in text
    plot = next(line for line in lines if line.strip().startswith("friendly") and "●" in line)
    bar = plot.split()[2]
    assert bar.index("│") < bar.index("├") < bar.index("●") < bar.index("┤")  # all above 0


def _shown_and_decided_cases() -> list[MetricResult]:
    """The demo's contradiction (19/113 vs 75/108: difference [+0.25, +0.80] but lift
    [-132%, +758%]), the widened rate near 0, and seeded cases of every kind, near and far
    from zero."""
    ones = np.ones
    cases = [
        compare(metric_def("conversion:resolved"), UnitSample(np.r_[ones(19), np.zeros(94)]),
                UnitSample(np.r_[ones(75), np.zeros(33)]), alpha=0.05, good="increase",
                arm="demo"),
        compare(CONVERSION, UnitSample(np.zeros(2000)), UnitSample(np.r_[ones(2), np.zeros(1998)]),
                alpha=0.05, good="increase", arm="near0"),
    ]
    rng = np.random.default_rng(31)
    p95 = metric_def("latency_p95")
    for i, lift in enumerate((-0.5, -0.15, 0.0, 0.1, 0.3, 1.5)):
        base = rng.uniform(0.03, 0.3)
        n = int(rng.integers(60, 600))
        cases.append(compare(CONVERSION, UnitSample((rng.random(n) < base).astype(float)),
                             UnitSample((rng.random(n) < base * (1 + lift)).astype(float)),
                             alpha=0.05, good="increase", arm=f"conv{i}"))
        (xa, ya), (xb, yb) = _clustered_units(n, rng), _clustered_units(n, rng)
        cases.append(compare(ERRORS, UnitSample(xa, ya), UnitSample(xb * (1 + lift), yb),
                             alpha=0.05, good="decrease", arm=f"err{i}"))
        cases.append(compare(COST, UnitSample(rng.gamma(2.0, 0.01, n)),
                             UnitSample(rng.gamma(2.0, 0.01 * (1 + lift), n)), alpha=0.05,
                             good="decrease", arm=f"cost{i}"))
        a = simulated_arm("a", n, rng, latency=400)
        b = simulated_arm("b", n, rng, latency=400 * (1 + lift))
        cases.append(compare(p95, unit_sample(p95, a, T0), unit_sample(p95, b, T0), alpha=0.05,
                             good="decrease", arm=f"p95_{i}"))
    return cases


def test_the_shown_interval_excludes_zero_exactly_when_the_verdict_is_a_change() -> None:
    cases = _shown_and_decided_cases()
    demo = cases[0]
    assert demo.verdict is Verdict.BETTER
    assert demo.sequential_relative.lower < 0  # the lift's interval would have contradicted it
    assert shown(demo)[2] == (demo.sequential.lower, demo.sequential.upper)
    base = evaluate(record(), _ab(np.random.default_rng(20), n=60), until=T0 + 10 * DAY)
    lines = render_text(replace(base, results=tuple(cases)), width=220).splitlines()
    changed = set()
    for r in cases:
        assert r.verdict is not Verdict.NOT_ENOUGH_DATA, r
        _, _, (lower, upper) = shown(r)
        excludes = lower > 0 or upper < 0
        assert excludes == (r.verdict in (Verdict.BETTER, Verdict.WORSE)), r
        # the text: the always-valid column of the table, and the plot's bar
        row = next(line for line in lines if line.startswith(f"│ {r.arm} "))
        cell = [c.strip() for c in row.split("│")[1:-1]][6]
        lo, hi = (float(x.removesuffix("pp")) for x in cell[1:-1].split(", "))
        assert (lo > 0 or hi < 0) == excludes, (r.arm, cell)
        bar = next(line for line in lines if line.startswith(f"  {r.arm} ")).split()[2]
        assert ("┼" not in bar) == excludes, (r.arm, bar)
        changed.add(excludes)
    assert changed == {True, False}  # both sides of the "iff" were exercised


def test_the_value_column_is_named_for_what_the_metric_is() -> None:
    rng = np.random.default_rng(22)
    data = extraction(simulated_arm("control", 200, rng, latency=400),
                      simulated_arm("friendly", 200, rng, latency=400))
    report = evaluate(record(secondary=("latency_p95", "cost_per_unit")), data,
                      until=T0 + 10 * DAY)
    columns, metric = {}, ""
    for line in render_text(report, width=200).splitlines():
        if " (" in line and line.split(" (")[0] in {r.metric for r in report.results}:
            metric = line.split(" (")[0]
        elif line.startswith("┃ arm"):
            columns[metric] = line.split("┃")[3].strip()
    assert columns == {"conversion:signup": "rate", "latency_p95": "p95",
                       "cost_per_unit": "mean", "error_rate": "rate"}


def test_interval_bar_draws_zero_the_intervals_and_the_estimate() -> None:
    assert interval_bar(0.5, (0.3, 0.7), (0.2, 0.8), 1.0, width=21) == "··········│·├━━●━━┤··"
    crossing = interval_bar(-0.1, (-0.3, 0.1), (-0.5, 0.3), 1.0, width=21)
    assert crossing == "·····├─━━●┼━─┤·······"
    assert interval_bar(0.0, (math.nan, math.nan), (-math.inf, math.inf), 1.0, width=5) \
        == "··│··"
    # an interval that excludes zero is never drawn across it, however it rounds
    assert interval_bar(0.02, (0.001, 0.15), (0.0001, 0.25), 1.0, width=21) \
        == "··········│●┤········"
    assert interval_bar(-0.02, (-0.15, -0.001), (-0.25, -0.0001), 1.0, width=21) \
        == "········├●│··········"
    # and one that crosses it always shows the crossing, even drawn in a single cell
    assert interval_bar(0.001, (-0.001, 0.002), (-0.002, 0.003), 1.0, width=21) \
        == "··········┼··········"
    assert interval_bar(0.01, (-0.1, 0.1), (-0.3, 0.3), 1.0, width=21) \
        == "·······├─━┼●─┤·······"  # the estimate beside zero


# ------------------------------------------------------------------ end to end, both databases


def _row(i: int, unit: str, arm: str, ts: float, **over: Any) -> dict[str, Any]:
    row = {
        "id": f"req{i}", "ts": ts, "feature": "support-bot", "release_id": f"support-bot@{arm}",
        "arm": arm, "unit_hash": unit, "source": "gateway",
        "protocol": "openai", "stream": False, "provider": "sim", "model": "m", "attempts": 1,
        "fallback_used": False, "status": "ok", "http_status": 200, "error_code": None,
        "latency_ms": 100.0, "ttft_ms": None, "input_tokens": 1, "output_tokens": 1,
        "cached_tokens": 0, "cost_usd": 0.001, "refusal": False, "finish_reason": "stop",
        "output_chars": 1, "prompt_text": None, "response_text": None,
    }
    row.update(over)
    return row


def test_analyze_reads_the_event_log_on_both_databases(store: Store) -> None:
    rec = record(arms=(Arm("control", "support-bot@control", 5000),
                       Arm("friendly", "support-bot@friendly", 5000)),
                 secondary=("latency_p95", "retention:1d"), min_runtime_s=DAY)
    rows, feedback = [], []
    for u in range(240):
        arm = "control" if u % 2 else "friendly"
        ts = T0 + 60 * u
        rows.append(_row(2 * u, f"u{u}", arm, ts, latency_ms=100.0 + u % 7))
        failed = arm == "friendly" and u % 8 == 0
        rows.append(_row(2 * u + 1, f"u{u}", arm, ts + 3600,
                         **({"status": "error", "http_status": 502} if failed else {})))
        if u % 5 == 0:  # back the next day
            rows.append(_row(5000 + u, f"u{u}", arm, ts + DAY + 1))
        if u % 3 == 0:
            feedback.append({"id": f"fb{u}", "ts": ts + 10, "name": "signup", "value": 1.0,
                             "request_id": f"req{2 * u}", "unit_hash": None, "feature": None,
                             "attributes": None})
    rows.append(_row(10_000, "u1", "friendly", T0 + 7200))  # u1 (control) seen in both arms
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, rows))
        conn.execute(feedback_events.insert(), feedback)
    report = analyze(store, rec, now=T0 + 2 * DAY)
    assert (report.multiple_exposures, report.multiple_exposure_requests) == (1, 3)
    assert [(a.name, a.units, a.requests) for a in report.arms] == [
        ("control", 119, 238 + 24), ("friendly", 120, 240 + 24)]
    conv = report.result("conversion:signup", "friendly")
    # signups: every third unit; friendly = even units -> 40 of 120; control odd, minus u1
    assert conv.treatment_mean == pytest.approx(40 / 120)
    assert conv.control_mean == pytest.approx(40 / 119)
    errors = report.result("error_rate", "friendly")
    assert errors.treatment_mean == pytest.approx(30 / 264) and errors.control_mean == 0.0
    assert report.result("latency_p95", "friendly").n_treatment == 120
    retention = report.result("retention:1d", "friendly")
    assert (retention.treatment_mean, retention.control_mean) == pytest.approx((24 / 120, 24 / 119))
    assert report.until == T0 + 2 * DAY and report.runtime_s == 2 * DAY
    json.dumps(to_json(report), allow_nan=False)
    assert "experiment tone#7 on support-bot" in render_text(report)
    stopped = analyze(store, replace(rec, status="stopped", stopped_at=T0 + 3000),
                      now=T0 + 5 * DAY)
    assert stopped.until == T0 + 3000 and stopped.units == 51
