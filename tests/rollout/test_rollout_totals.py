"""The database's per-unit totals (`rampway.rollout.totals`) give the judge exactly what the
per-request read does (`load_samples` + numpy), on both databases: every metric kind, feedback
tied to requests and to units, requests without a unit, a decreasing quantile guardrail."""

from __future__ import annotations

import math

import pytest
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, gated_pair

from rampway.rollout import Controller, Guardrail, judge
from rampway.rollout._judge import judge_totals
from rampway.rollout.extract import load_samples
from rampway.rollout.metrics import metric_def
from rampway.rollout.totals import load_totals
from rampway.store import Store

GUARDRAILS = [
    Guardrail.model_validate(g) for g in (
        {"metric": "error_rate", "margin": {"relative": 0.2}, "min_sample": 20},
        {"metric": "fallback_rate", "margin": {"absolute": 0.01}, "min_sample": 20},
        {"metric": "refusal_rate", "margin": {"relative": 0.5}, "min_sample": 20},
        {"metric": "latency_p95", "margin": {"relative": 0.2}, "min_sample": 20},
        {"metric": "latency_p50", "bad": "decrease", "margin": {"absolute": 10},
         "min_sample": 20},
        {"metric": "ttft_p95", "margin": {"relative": 0.1}, "min_sample": 20},
        {"metric": "cost_per_request", "margin": {"relative": 0.1}, "min_sample": 20},
        {"metric": "output_length", "bad": "decrease", "margin": {"relative": 0.1},
         "min_sample": 20},
        {"metric": "feedback:thumbs_up", "bad": "decrease", "margin": {"absolute": 0.05},
         "min_sample": 20},
    )
]


def _traffic(store: Store, unit_feedback: bool) -> Simulation:
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    sim = Simulation(store, Controller(store, clock=clock), clock,
                     {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile(error_p=0.08, latency_ms=900)},
                     per_minute=600, units=400, unit_feedback=unit_feedback)
    sim.controller.start(FEATURE, candidate, actor="t", plan=_plan())
    for _ in range(3):
        sim.minute()
    return sim


def _plan():  # type: ignore[no-untyped-def]
    from rollout_helpers import plan
    return plan(steps=[{"weight": 40, "dwell": "1h"}, {"weight": 100}],
                guardrails=[g.model_dump() for g in GUARDRAILS])


@pytest.mark.parametrize("unit_feedback", [False, True])
def test_database_totals_judge_exactly_like_the_per_request_read(
    store: Store, unit_feedback: bool,
) -> None:
    sim = _traffic(store, unit_feedback)
    window = {"feature": FEATURE, "releases": sim.releases, "since": sim.clock.t - 3 * 60,
              "until": sim.clock.t + 1}
    samples = load_samples(store, feedback=[g.metric for g in GUARDRAILS
                                            if g.metric.startswith("feedback:")], **window)
    look = load_totals(store, guardrails=GUARDRAILS, **window)
    assert look.requests == {arm: samples[arm].requests for arm in ("baseline", "candidate")}
    assert look.units == {arm: samples[arm].units for arm in ("baseline", "candidate")}
    for g, (base, cand), quantiles in zip(GUARDRAILS, look.totals, look.quantiles, strict=True):
        source = metric_def(g.metric).source
        expected = judge(samples["baseline"].observations(source),
                         samples["candidate"].observations(source), g, alpha=0.01)
        got = judge_totals(base, cand, g, alpha=0.01, quantiles=quantiles)
        assert got.verdict is expected.verdict, g.metric
        assert (got.n_baseline, got.n_candidate, got.units_baseline, got.units_candidate) == (
            expected.n_baseline, expected.n_candidate, expected.units_baseline,
            expected.units_candidate), g.metric
        assert got.units_candidate > 10 and got.n_candidate > 100, g.metric
        for field in ("baseline_value", "candidate_value", "estimate", "lower", "upper", "limit"):
            a, b = getattr(got, field), getattr(expected, field)
            # abs_tol: a constant metric (cost here) has a zero-width interval up to rounding
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7), (g.metric, field, a, b)


def test_an_empty_window_is_no_data_not_an_error(store: Store) -> None:
    baseline, candidate = gated_pair(store)
    look = load_totals(store, feature=FEATURE, releases={"baseline": baseline,
                       "candidate": candidate}, guardrails=GUARDRAILS, since=0, until=1)
    assert look.requests == {"baseline": 0, "candidate": 0}
    for g, (base, cand), quantiles in zip(GUARDRAILS, look.totals, look.quantiles, strict=True):
        assert judge_totals(base, cand, g, alpha=0.01, quantiles=quantiles).verdict == "no_data"
