"""Verdicts and the one decision they add up to — plain data, no numpy, so the serving path
(allocations, state) can import it without the statistics stack.

Aggregation is Kayenta's: a critical FAIL → ROLLBACK; any other FAIL → PAUSE (a human
decides); any NO_DATA or INCONCLUSIVE → HOLD ("not proven worse" never counts as success: a
guardrail passes only when its interval excludes harm beyond the margin, the eval gate's rule
too); all PASS → PROCEED. A step that holds past its `max_dwell` pauses for a human (see
`rampway.rollout.state`).

The sample-ratio-mismatch check (`SampleRatio`) sits beside the guardrails: its FAIL pauses
(the split is not what the weights say, so the comparison can't be trusted — which says
nothing against the candidate, hence no rollback), but a critical guardrail FAIL still rolls
back: rolling back is the safe direction even on suspect data, and a broken split is often
the candidate's own doing (it crashes before logging, say). Its NO_DATA (too few units to
test) does not hold the step: the guardrails' own `min_sample` already decides whether there
is enough data to act on, and a feature with few users would otherwise never leave 1%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105  (a verdict, not a password)
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # enough data, but the interval straddles the margin
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
    metrics). FAIL means the interval lies entirely beyond `limit` on the bad side, PASS that
    it lies entirely on the good side of it. `n_*` count observations (requests, feedback
    events), `units_*` the units they came from — the interval is computed over units.
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
    units_baseline: int = 0
    units_candidate: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return {k: _json_float(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class SampleRatio:
    """The sample-ratio-mismatch check at one look: observed vs expected units per arm.

    `threshold` is the p-value level this look applied (`decisive` looks — the one that
    would advance the step — use the plan's; the others a far stricter interim level, see
    `rampway.rollout._judge.judge_srm`). `p_value`/`statistic` are NaN on NO_DATA.
    """

    verdict: Verdict
    counted: str  # what one observation is: "units" (requests without a unit count as one)
    baseline: int
    candidate: int
    expected_baseline: float
    expected_candidate: float
    candidate_share: float  # the step's weight, 0..1
    statistic: float
    p_value: float
    threshold: float
    decisive: bool
    min_expected: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return {k: _json_float(v) for k, v in out.items()}

    def describe(self) -> str:
        """One line, e.g. for the pause reason."""
        return describe_srm(self.as_dict())


def describe_srm(srm: Mapping[str, Any]) -> str:
    """`SampleRatio.as_dict()` (as stored with a look) in one line, for reasons and status.

    >>> describe_srm({"verdict": "fail", "counted": "units", "baseline": 9500, "candidate": 1000,
    ...     "expected_baseline": 9975.0, "expected_candidate": 525.0, "candidate_share": 0.05,
    ...     "p_value": 2e-100, "threshold": 0.001, "min_expected": 10.0})
    'candidate 1000 / baseline 9500 units, expected 525 / 9975 at 5%, p=2e-100 (< 0.001)'
    """
    seen = (f"candidate {srm['candidate']} / baseline {srm['baseline']} {srm['counted']}, "
            f"expected {srm['expected_candidate']:.0f} / {srm['expected_baseline']:.0f} "
            f"at {srm['candidate_share'] * 100:g}%")
    if srm["verdict"] == Verdict.NO_DATA or srm.get("p_value") is None:
        return f"{seen}: too few to test (needs >= {srm['min_expected']:g} expected per arm)"
    side = "<" if srm["verdict"] == Verdict.FAIL else ">="
    return f"{seen}, p={srm['p_value']:.3g} ({side} {srm['threshold']:g})"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The judge's answer for one look at all guardrails (and the split, when checked)."""

    action: Action
    reason: str
    results: tuple[GuardrailResult, ...]
    srm: SampleRatio | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "reason": self.reason,
            "guardrails": [r.as_dict() for r in self.results],
            "srm": None if self.srm is None else self.srm.as_dict(),
        }


def _json_float(value: Any) -> Any:
    """NaN/inf are not JSON: store them as None (read back as "unknown")."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def aggregate(results: Sequence[GuardrailResult], srm: SampleRatio | None = None) -> Evaluation:
    """One decision from all guardrails (Kayenta's critical-metric rule; no data → hold) and
    the SRM check (a mismatch pauses unless a critical guardrail rolls back)."""
    failed = [r for r in results if r.verdict is Verdict.FAIL]
    critical = [r for r in failed if r.critical]
    missing = [r for r in results if r.verdict is Verdict.NO_DATA]
    undecided = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]

    def answer(action: Action, reason: str) -> Evaluation:
        return Evaluation(action, reason, tuple(results), srm)

    if critical:
        return answer(Action.ROLLBACK, "critical guardrail failed: " + _names(critical))
    if srm is not None and srm.verdict is Verdict.FAIL:
        also = f"; guardrail failed: {_names(failed)}" if failed else ""
        return answer(Action.PAUSE, "sample ratio mismatch, the split can't be trusted: "
                      + srm.describe() + also)
    if failed:
        return answer(Action.PAUSE, "guardrail failed: " + _names(failed))
    if missing or undecided:
        parts = ([f"not enough data: {_names(missing)}"] if missing else []) + (
            [f"not yet shown within the margin: {_names(undecided)}"] if undecided else [])
        return answer(Action.HOLD, "; ".join(parts))
    return answer(Action.PROCEED, "all guardrails pass")


def _names(results: Sequence[GuardrailResult]) -> str:
    return ", ".join(f"{r.metric} (n={r.n_baseline}/{r.n_candidate})" for r in results)


__all__ = [
    "Action",
    "Evaluation",
    "GuardrailResult",
    "SampleRatio",
    "Verdict",
    "aggregate",
    "describe_srm",
]
