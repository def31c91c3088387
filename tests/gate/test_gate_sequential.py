"""The sequential gate's plan, budget and bounded advice (pure)."""

from __future__ import annotations

import math

import pytest

from rampway.gate.model import AxisEstimate, GateInput, Interval, Verdict
from rampway.gate.policy import Budget, Policy, Rule, Sequential, decide, rule_verdict
from rampway.gate.sequential import Look, Spend, advice, look_confidence, over_budget, plan_looks


def test_repeats_double_once_the_suite_is_used_up() -> None:
    looks = plan_looks(37, 3, Sequential())
    assert [(look.cases, look.repeats) for look in looks] == [
        (37, 3), (37, 6), (37, 12), (37, 24), (37, 48)
    ]
    assert [look.index for look in looks] == [1, 2, 3, 4, 5]


def test_cases_double_first_when_the_suite_is_larger_than_the_first_sample() -> None:
    settings = Sequential(looks=5, first_cases=100, budget=Budget(calls=100_000))
    looks = plan_looks(300, 3, settings)
    assert [(look.cases, look.repeats) for look in looks] == [
        (100, 3), (200, 3), (300, 3), (300, 6), (300, 12)
    ]


def test_the_call_budget_caps_the_planned_looks_but_one_look_always_runs() -> None:
    looks = plan_looks(100, 3, Sequential(looks=6, budget=Budget(calls=1_300)))
    assert [look.evaluations for look in looks] == [600, 1_200]
    assert len(plan_looks(1_000, 3, Sequential(budget=Budget(calls=10)))) == 1


def test_every_look_spends_an_equal_share_of_alpha() -> None:
    assert look_confidence(0.95, 4) == pytest.approx(0.9875)
    assert look_confidence(0.95, 1) == pytest.approx(0.95)


def test_next_look_is_refused_when_it_would_overrun_a_budget() -> None:
    settings = Sequential(budget=Budget(calls=1_000, usd=1.0, minutes=1.0))
    done, following = Look(1, 50, 3), Look(2, 50, 6)
    assert over_budget(settings, Spend(300, 0.1, 5.0), done, following) is None
    assert "calls" in (over_budget(settings, Spend(600, 0.1, 5.0), done, following) or "")
    assert "dollars" in (over_budget(settings, Spend(300, 0.6, 5.0), done, following) or "")
    assert "minutes" in (over_budget(settings, Spend(300, 0.1, 31.0), done, following) or "")


def test_one_decision_rule_for_drops_and_rises() -> None:
    # quality (higher is better), margin 1 pt
    assert rule_verdict(Interval(-1.0, 2.0), 1.0, True) is Verdict.PASS  # bound on the margin
    assert rule_verdict(Interval(-1.5, 2.0), 1.0, True) is Verdict.INCONCLUSIVE
    assert rule_verdict(Interval(-3.0, -1.5), 1.0, True) is Verdict.FAIL
    # cost (lower is better), margin 5%
    assert rule_verdict(Interval(-10.0, 5.0), 5.0, False) is Verdict.PASS
    assert rule_verdict(Interval(2.0, 8.0), 5.0, False) is Verdict.INCONCLUSIVE
    assert rule_verdict(Interval(6.0, 9.0), 5.0, False) is Verdict.FAIL


def _on_the_margin(low: float, high: float, change: float) -> GateInput:
    quality = AxisEstimate("quality", "quality", 0.8, 0.79, change, Interval(low, high),
                           n=100, within_share=0.5)
    return GateInput("bot", "chat", 100, 3, 0.95, {"quality": quality})


def test_a_change_on_the_margin_is_not_given_millions_of_cases() -> None:
    policy = Policy(rules={"quality": Rule(max_drop=1.0)})
    data = _on_the_margin(-1.6, -0.4, -0.999)
    decision = decide(policy, data)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.more_cases is None and decision.more_repeats is None
    assert "cannot be decided within 16×" in decision.reasons[0]
    text = advice(decision, dict(data.axes), 600)
    assert text.startswith("cannot be decided within 16× this sample (9600 answers)")


def test_a_change_near_but_off_the_margin_gets_a_bounded_estimate() -> None:
    policy = Policy(rules={"quality": Rule(max_drop=1.0)})
    data = _on_the_margin(-1.5, 1.5, 0.0)  # half-width 1.5, gap 1 → 2.25× the sample
    decision = decide(policy, data)
    assert decision.more_cases == 125
    assert advice(decision, dict(data.axes), 600) .startswith("≈ 1350 answers")
    assert math.isfinite(float(decision.more_cases))


def test_a_case_sample_takes_critical_cases_first_and_only_grows() -> None:
    from gate_helpers import EXAMPLE

    from rampway.evals.suite import require_suite
    from rampway.gate.run import sample_cases

    suite = require_suite(EXAMPLE, "support-bot")
    critical = {c.id for c in suite.cases if c.critical}
    small, larger = sample_cases(suite, 10), sample_cases(suite, 20)
    assert len(small.cases) == 10 and len(larger.cases) == 20
    assert critical <= {c.id for c in small.cases}
    assert {c.id for c in small.cases} <= {c.id for c in larger.cases}
    assert len({suite.digest, small.digest, larger.digest}) == 3 and len(small.digest) == 64
    assert sample_cases(suite, len(suite.cases)) is suite
