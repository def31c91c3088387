"""Verdicts and the one decision they add up to — plain data, no numpy, so the serving path
(allocations, state) can import it without the statistics stack.

Aggregation is Kayenta's: a critical FAIL → ROLLBACK; any other FAIL → PAUSE (a human
decides); any NO_DATA → HOLD ("no data" never counts as success); all PASS → PROCEED.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105  (a verdict, not a password)
    FAIL = "fail"
    NO_DATA = "no_data"


class Action(StrEnum):
    PROCEED = "proceed"
    HOLD = "hold"
    PAUSE = "pause"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    """One guardrail at one look, with everything a human needs to see why.

    `estimate`, `lower`, `upper` and `limit` share one `scale`: `relative` (c/b - 1),
    `absolute` (c - b) or `exceedance` (difference of the shares above the threshold, quantile
    metrics). FAIL means the interval lies entirely beyond `limit` on the bad side.
    """

    metric: str
    bad: str
    critical: bool
    verdict: Verdict
    baseline_value: float
    candidate_value: float
    estimate: float
    lower: float
    upper: float
    limit: float
    scale: str
    n_baseline: int
    n_candidate: int
    min_sample: int
    alpha: float
    method: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return {k: _json_float(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The judge's answer for one look at all guardrails."""

    action: Action
    reason: str
    results: tuple[GuardrailResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "reason": self.reason,
            "guardrails": [r.as_dict() for r in self.results],
        }


def _json_float(value: Any) -> Any:
    """NaN/inf are not JSON: store them as None (read back as "unknown")."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def aggregate(results: Sequence[GuardrailResult]) -> Evaluation:
    """One decision from all guardrails (Kayenta's critical-metric rule; no data → hold)."""
    failed = [r for r in results if r.verdict is Verdict.FAIL]
    critical = [r for r in failed if r.critical]
    missing = [r for r in results if r.verdict is Verdict.NO_DATA]
    if critical:
        return Evaluation(Action.ROLLBACK, "critical guardrail failed: " + _names(critical),
                          tuple(results))
    if failed:
        return Evaluation(Action.PAUSE, "guardrail failed: " + _names(failed), tuple(results))
    if missing:
        return Evaluation(Action.HOLD, "not enough data: " + _names(missing), tuple(results))
    return Evaluation(Action.PROCEED, "all guardrails pass", tuple(results))


def _names(results: Sequence[GuardrailResult]) -> str:
    return ", ".join(f"{r.metric} (n={r.n_baseline}/{r.n_candidate})" for r in results)


__all__ = ["Action", "Evaluation", "GuardrailResult", "Verdict", "aggregate"]
