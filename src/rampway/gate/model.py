"""Plain data the gate decides on: estimates with confidence intervals, and changed cases.

The comparison produces a `GateInput`; the policy turns it into a `Decision`. Both ends are
JSON-serializable so decisions can be frozen as test vectors.

Units: quality metrics change in *points* (score × 100, so 0.82 → 0.80 is -2 points);
cost and latency change in *percent* of the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Kind = Literal["quality", "cost", "latency"]
Method = Literal["bootstrap", "t"]

COST = "cost"
LATENCY_P50 = "latency_p50"
LATENCY_P95 = "latency_p95"
BUILTIN_AXES = (COST, LATENCY_P50, LATENCY_P95)


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"

    @property
    def exit_code(self) -> int:
        return {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3}[self]

    @staticmethod
    def worst(verdicts: list[Verdict]) -> Verdict:
        if Verdict.FAIL in verdicts:
            return Verdict.FAIL
        if Verdict.INCONCLUSIVE in verdicts:
            return Verdict.INCONCLUSIVE
        return Verdict.PASS


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_json(self) -> list[float | None]:
        return [_finite(self.low), _finite(self.high)]

    @classmethod
    def from_json(cls, data: Any) -> Interval:
        low, high = data
        return cls(_unfinite(low, -1), _unfinite(high, 1))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _unfinite(value: float | None, sign: int) -> float:
    return sign * math.inf if value is None else float(value)


@dataclass(frozen=True, slots=True)
class AxisEstimate:
    """Baseline vs candidate on one axis: levels, the change and its CIs (in `unit`)."""

    name: str
    kind: Kind
    baseline: float
    candidate: float
    change: float
    bootstrap: Interval
    t: Interval | None = None
    n: int = 0
    within_share: float = 0.0  # share of the change's variance due to repeat noise

    @property
    def unit(self) -> str:
        return "pts" if self.kind == "quality" else "%"

    def interval(self, method: Method) -> Interval:
        return self.t if method == "t" and self.t is not None else self.bootstrap

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["bootstrap"] = self.bootstrap.to_json()
        data["t"] = None if self.t is None else self.t.to_json()
        data["unit"] = self.unit
        data["change"] = _finite(self.change)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AxisEstimate:
        change = data["change"]
        return cls(
            name=data["name"],
            kind=data["kind"],
            baseline=float(data["baseline"]),
            candidate=float(data["candidate"]),
            change=math.inf if change is None else float(change),
            bootstrap=Interval.from_json(data["bootstrap"]),
            t=None if data.get("t") is None else Interval.from_json(data["t"]),
            n=int(data.get("n", 0)),
            within_share=float(data.get("within_share", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class CaseChange:
    """A case whose outcome moved between baseline and candidate."""

    case_id: str
    critical: bool
    baseline_pass_rate: float
    candidate_pass_rate: float
    baseline_output: str = ""
    candidate_output: str = ""
    failed_scorers: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed_scorers"] = list(self.failed_scorers)
        data["details"] = list(self.details)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseChange:
        return cls(
            case_id=data["case_id"],
            critical=bool(data["critical"]),
            baseline_pass_rate=float(data["baseline_pass_rate"]),
            candidate_pass_rate=float(data["candidate_pass_rate"]),
            baseline_output=data.get("baseline_output", ""),
            candidate_output=data.get("candidate_output", ""),
            failed_scorers=tuple(data.get("failed_scorers", ())),
            details=tuple(data.get("details", ())),
        )


@dataclass(frozen=True, slots=True)
class GateInput:
    """Everything the policy looks at. `axes` is keyed by metric/axis name."""

    feature: str
    traffic_class: str
    n_cases: int
    repeats: int
    confidence: float
    axes: Mapping[str, AxisEstimate]
    newly_failing: tuple[CaseChange, ...] = ()
    newly_passing: tuple[str, ...] = ()
    flaky: tuple[str, ...] = ()
    noise_floor: Mapping[str, float | None] = field(default_factory=dict)
    baseline: str = ""
    candidate: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "traffic_class": self.traffic_class,
            "n_cases": self.n_cases,
            "repeats": self.repeats,
            "confidence": self.confidence,
            "axes": {k: v.to_json() for k, v in self.axes.items()},
            "newly_failing": [c.to_json() for c in self.newly_failing],
            "newly_passing": list(self.newly_passing),
            "flaky": list(self.flaky),
            "noise_floor": dict(self.noise_floor),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateInput:
        return cls(
            feature=data.get("feature", ""),
            baseline=data.get("baseline", ""),
            candidate=data.get("candidate", ""),
            traffic_class=data["traffic_class"],
            n_cases=int(data["n_cases"]),
            repeats=int(data["repeats"]),
            confidence=float(data.get("confidence", 0.95)),
            axes={k: AxisEstimate.from_json({**v, "name": k}) for k, v in data["axes"].items()},
            newly_failing=tuple(CaseChange.from_json(c) for c in data.get("newly_failing", ())),
            newly_passing=tuple(data.get("newly_passing", ())),
            flaky=tuple(data.get("flaky", ())),
            noise_floor=dict(data.get("noise_floor", {})),
        )
