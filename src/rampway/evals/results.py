"""Per-call results of an eval run, and how scores roll up into metrics. Pure.

One `CaseResult` per (case, repeat). A metric value for a result is the weighted mean of
the scores of the metric's scorers that apply to that case; `pass_rate` is 1 when every
applicable scorer passed (and the call did not error), else 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rampway.evals.scorers import Score
from rampway.evals.suite import PASS_RATE, Suite


@dataclass(slots=True)
class CaseResult:
    case_id: str
    repeat: int
    scores: dict[str, Score]
    metrics: dict[str, float]
    passed: bool
    cost_usd: float
    latency_s: float
    output: str = ""
    error: str | None = None
    cached: bool = False
    served_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "repeat": self.repeat,
            "passed": self.passed,
            "metrics": self.metrics,
            "scores": {
                n: {"value": s.value, "passed": s.passed, "detail": s.detail}
                for n, s in self.scores.items()
            },
            "cost_usd": self.cost_usd,
            "latency_s": self.latency_s,
            "output": self.output,
            "error": self.error,
            "cached": self.cached,
            "served_by": self.served_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseResult:
        return cls(
            case_id=data["case_id"],
            repeat=int(data["repeat"]),
            scores={
                n: Score(float(s["value"]), bool(s["passed"]), str(s.get("detail", "")))
                for n, s in data["scores"].items()
            },
            metrics={k: float(v) for k, v in data["metrics"].items()},
            passed=bool(data["passed"]),
            cost_usd=float(data["cost_usd"]),
            latency_s=float(data["latency_s"]),
            output=str(data.get("output", "")),
            error=data.get("error"),
            cached=bool(data.get("cached", False)),
            served_by=str(data.get("served_by", "")),
        )


@dataclass(slots=True)
class EvalRun:
    """A suite against one release: everything the comparison needs, as plain data."""

    run_id: str
    feature: str
    release_id: str
    release_digest: str
    suite_digest: str
    traffic_class: str
    repeats: int
    metric_names: list[str]
    case_weights: dict[str, float]
    critical: frozenset[str]
    results: list[CaseResult] = field(default_factory=list)
    complete: bool = False
    spent_usd: float = 0.0

    def by_case(self) -> dict[str, list[CaseResult]]:
        grouped: dict[str, list[CaseResult]] = {}
        for result in self.results:
            grouped.setdefault(result.case_id, []).append(result)
        for results in grouped.values():
            results.sort(key=lambda r: r.repeat)
        return grouped

    def metric_means(self) -> dict[str, float]:
        """Case-weighted means over cases of the per-case mean over repeats."""
        grouped = self.by_case()
        means: dict[str, float] = {}
        for metric in self.metric_names:
            total = weight_sum = 0.0
            for case_id, results in grouped.items():
                values = [r.metrics[metric] for r in results if metric in r.metrics]
                if values:
                    weight = self.case_weights.get(case_id, 1.0)
                    total += weight * sum(values) / len(values)
                    weight_sum += weight
            if weight_sum:
                means[metric] = total / weight_sum
        return means

    def summary(self) -> dict[str, Any]:
        latencies = sorted(r.latency_s for r in self.results)
        cost = sum(r.cost_usd for r in self.results)
        cases = len(self.by_case())
        return {
            "run_id": self.run_id,
            "feature": self.feature,
            "release": self.release_id,
            "traffic_class": self.traffic_class,
            "complete": self.complete,
            "cases": cases,
            "repeats": self.repeats,
            "calls": len(self.results),
            "errors": sum(1 for r in self.results if r.error),
            "metrics": self.metric_means(),
            "cost_usd_total": cost,
            "cost_usd_per_case": cost / cases / max(self.repeats, 1) if cases else 0.0,
            "spent_usd": self.spent_usd,
            "latency_p50_s": _quantile(latencies, 0.5),
            "latency_p95_s": _quantile(latencies, 0.95),
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "results": [r.to_json() for r in self.results]}


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def roll_up(suite: Suite, scores: Mapping[str, Score], error: str | None) -> tuple[
    dict[str, float], bool
]:
    """(metric values, passed) for one result. Errors score 0 on every applicable scorer."""
    metrics: dict[str, float] = {}
    for metric, weights in suite.metrics.items():
        used = [(w, scores[s].value) for s, w in weights.items() if s in scores]
        if used:
            metrics[metric] = sum(w * v for w, v in used) / sum(w for w, _ in used)
    passed = error is None and bool(scores) and all(s.passed for s in scores.values())
    metrics[PASS_RATE] = 1.0 if passed else 0.0
    return metrics, passed


def failed_scores(names: Iterable[str], error: str) -> dict[str, Score]:
    return {name: Score(0.0, False, f"call failed: {error}") for name in names}
