"""The judge on traffic as users send it: many alike requests per user (ICC 1/6, ~20 requests
per user), looked at 40 times. A/A false alarms stay under alpha for a rate, a mean and a
quantile; real regressions are still caught. The traffic model: `clustered_traffic`."""

from __future__ import annotations

import numpy as np
import pytest
from clustered_traffic import Traffic

from rampway.rollout import Guardrail, Verdict, judge
from rampway.rollout.observations import Observations

LOOKS = 40
ALPHA = 0.05
GUARDRAILS = {
    "error": Guardrail.model_validate({"metric": "error_rate", "margin": {"relative": 0},
                                       "min_sample": 200}),
    "output_tokens": Guardrail.model_validate({"metric": "output_length",
                                               "margin": {"relative": 0}, "min_sample": 200}),
    "latency_ms": Guardrail.model_validate({"metric": "latency_p95", "margin": {"relative": 0},
                                            "min_sample": 200}),
}


def first_failure(traffic: Traffic, rng: np.random.Generator, *, per_request: bool = False,
                  ) -> dict[str, int | None]:
    """source -> the first look (1-based) at which its guardrail FAILed, None if never."""
    found: dict[str, int | None] = dict.fromkeys(GUARDRAILS)
    for look, view in enumerate(traffic.looks(rng, LOOKS, per_request=per_request), 1):
        for source, guard in GUARDRAILS.items():
            if found[source] is None:
                base, cand = view[source]
                if judge(base, cand, guard, alpha=ALPHA).verdict is Verdict.FAIL:
                    found[source] = look
    return found


def false_alarm_rates(traffic: Traffic, runs: int, seed: int, *, per_request: bool = False,
                      ) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    alarms = dict.fromkeys(GUARDRAILS, 0)
    for _ in range(runs):
        for source, look in first_failure(traffic, rng, per_request=per_request).items():
            alarms[source] += look is not None
    return {source: n / runs for source, n in alarms.items()}


@pytest.mark.slow
def test_aa_clustered_users_false_alarms_stay_under_alpha_for_rate_mean_and_p95() -> None:
    rates = false_alarm_rates(Traffic(users=600, error_p=0.05), runs=200, seed=11)
    assert all(rate <= ALPHA for rate in rates.values()), rates


@pytest.mark.slow
def test_the_same_traffic_judged_per_request_cries_wolf() -> None:
    """Why the judge counts units: per request, the same A/A traffic alarms far above alpha
    (the rollout judge before issue #11)."""
    rates = false_alarm_rates(Traffic(users=600, error_p=0.05), runs=60, seed=12,
                              per_request=True)
    assert max(rates.values()) > 2 * ALPHA, rates


@pytest.mark.slow
def test_a_tripled_error_rate_and_a_40_percent_slower_p95_are_caught() -> None:
    rng = np.random.default_rng(13)
    traffic = Traffic(users=2000, share=0.5, error_p=0.01, candidate_error_p=0.03,
                      candidate_latency=1.4)
    caught = [first_failure(traffic, rng) for _ in range(20)]
    assert sum(c["error"] is not None for c in caught) >= 18
    assert sum(c["latency_ms"] is not None for c in caught) >= 18


def test_alike_requests_of_one_user_widen_the_interval() -> None:
    """The same values, once from 10 users x 50 requests and once as 500 independent
    requests: the clustered interval is wider, and a difference that is 'significant' per
    request is not over units."""
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(40), 50)
    user_p = rng.beta(0.5, 4.5, size=40)
    values = (rng.random(users.size) < user_p[users]).astype(float)
    base = Observations.of(values[:1000], users[:1000])
    cand = Observations.of(values[1000:], users[1000:] - 20)
    guard = Guardrail.model_validate({"metric": "error_rate", "margin": {"absolute": 0},
                                      "min_sample": 10})
    clustered = judge(base, cand, guard, alpha=ALPHA)
    independent = judge(values[:1000], values[1000:], guard, alpha=ALPHA)
    assert (clustered.units_baseline, clustered.units_candidate) == (20, 20)
    assert (independent.units_baseline, independent.units_candidate) == (1000, 1000)
    width = clustered.upper - clustered.lower
    assert width > 2 * (independent.upper - independent.lower)
    assert clustered.estimate == pytest.approx(independent.estimate)


def test_requests_without_a_unit_count_as_their_own_unit() -> None:
    obs = Observations.of([1.0, 0.0, 1.0], None)
    assert obs.unit_count() == 3
    sums, counts = obs.per_unit()
    assert sums.tolist() == [1.0, 0.0, 1.0] and counts.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="one unit label per value"):
        Observations.of([1.0, 2.0], [1])
