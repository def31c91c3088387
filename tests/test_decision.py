"""One decision rule for the gate and the rollout judge (`rampway._decision`)."""

from __future__ import annotations

import pytest

from rampway._decision import harm_verdict
from rampway.gate.model import Interval
from rampway.gate.policy import rule_verdict


@pytest.mark.parametrize(("lower", "upper", "want"), [
    (-0.3, -0.01, "pass"), (-0.3, 0.0, "pass"),  # a bound exactly on the margin passes
    (0.01, 0.4, "fail"), (0.0, 0.4, "inconclusive"), (-0.1, 0.2, "inconclusive"),
])
def test_harm_verdict(lower: float, upper: float, want: str) -> None:
    assert harm_verdict(lower, upper) == want


@pytest.mark.parametrize(("low", "high", "want"), [
    (-1.5, 3.0, "pass"), (-2.0, 1.0, "pass"), (-5.0, -2.5, "fail"), (-3.0, 1.0, "inconclusive"),
])
def test_the_gate_reads_a_quality_drop_with_the_same_rule(low: float, high: float,
                                                           want: str) -> None:
    interval = Interval(low=low, high=high)
    assert rule_verdict(interval, margin=2.0, higher_is_better=True).value == want
    flipped = Interval(low=-high, high=-low)  # the same, for an axis where lower is better
    assert rule_verdict(flipped, margin=2.0, higher_is_better=False).value == want
