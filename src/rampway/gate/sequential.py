"""The sequential gate's plan and bookkeeping: looks at growing samples, a budget, a bound. Pure.

A gate whose sample is fixed in advance answers INCONCLUSIVE whenever the suite happens to be
too small for the margin, and users learn to skip it. The comparison is paired by case, so the
gate can instead *look* at a small sample and grow it only while some rule is undecided:

    looks = plan_looks(n_cases=37, repeats=3, settings=policy.sequential)
    # (Look(1, 37, 3), Look(2, 37, 6), Look(3, 37, 12), Look(4, 37, 24), Look(5, 37, 48))
    level = look_confidence(0.95, len(looks))            # 0.99 at each of 5 looks

Cases double first (while the suite has more than the first sample), then repeats double, so
each look halves the variance of a behaviour-identical comparison. The number of looks K is
fixed before the first call (the policy's `looks`, fewer if the call budget cannot pay for
them), and every look's intervals are at level 1 - α/K: by the union bound, the chance that
*any* look's interval misses the true change is ≤ α, however the gate stops. This is a
group-sequential design with Bonferroni spending. Why not an asymptotic confidence sequence
(`rampway.stats.cs_halfwidth`) as the rollout judge uses: it is valid for unboundedly many
looks, which the gate never takes, and at the gate's 20-400 cases its CLT premise is weak
while its half-width at a 37-case first look is 1.2× a 1 - α/5 interval's when tuned to
that look, 3× at its default tuning (5,000 units).

Stopping: as soon as the decision is PASS or FAIL, when the planned looks are used up, or when
the next look would overrun the budget (calls, dollars, minutes; extrapolated from this
gate's own spend per call). Only then INCONCLUSIVE, with `advice` saying what would decide it,
bounded: "cannot be decided within 16× this budget" rather than millions of cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rampway.gate.model import AxisEstimate, Verdict
from rampway.gate.policy import MAX_GROWTH, Decision, Sequential, growth_needed


@dataclass(frozen=True, slots=True)
class Look:
    index: int  # 1-based
    cases: int
    repeats: int

    @property
    def evaluations(self) -> int:
        """(case, repeat) answers both arms need at this look."""
        return 2 * self.cases * self.repeats


def plan_looks(n_cases: int, repeats: int, settings: Sequential) -> tuple[Look, ...]:
    """The looks the budget's calls can pay for (at least one): cases double, then repeats."""
    if n_cases < 1 or repeats < 1:
        raise ValueError("a gate needs at least one case and one repeat")
    cases = min(settings.first_cases or n_cases, n_cases)
    looks = [Look(1, cases, repeats)]
    while len(looks) < settings.looks:
        if cases < n_cases:
            cases = min(n_cases, cases * 2)
        else:
            repeats *= 2
        look = Look(len(looks) + 1, cases, repeats)
        if look.evaluations > settings.budget.calls:
            break
        looks.append(look)
    return tuple(looks)


def look_confidence(confidence: float, looks: int) -> float:
    """Per-look level so that all `looks` intervals hold together with `confidence`."""
    return 1.0 - (1.0 - confidence) / max(1, looks)


@dataclass(frozen=True, slots=True)
class Spend:
    """What the gate has spent so far: new calls (not cache hits), dollars, seconds."""

    calls: int = 0
    usd: float = 0.0
    seconds: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.calls + other.calls, self.usd + other.usd, self.seconds + other.seconds)


def over_budget(settings: Sequential, spent: Spend, done: Look, following: Look) -> str | None:
    """Which budget the next look would overrun (extrapolated per evaluation), or None."""
    budget = settings.budget
    grow = following.evaluations / done.evaluations
    if spent.calls * grow > budget.calls:
        return f"calls (budget {budget.calls})"
    if budget.usd is not None and spent.usd * grow > budget.usd:
        return f"dollars (budget ${budget.usd:g})"
    if budget.minutes is not None and spent.seconds * grow > budget.minutes * 60:
        return f"minutes (budget {budget.minutes:g})"
    return None


@dataclass(frozen=True, slots=True)
class LookRecord:
    """One look as the reports show it."""

    index: int
    cases: int
    repeats: int
    confidence: float
    verdict: Verdict
    evaluations: int
    new_calls: int

    def to_json(self) -> dict[str, Any]:
        return {
            "look": self.index,
            "cases": self.cases,
            "repeats": self.repeats,
            "confidence": self.confidence,
            "verdict": self.verdict.value,
            "evaluations": self.evaluations,
            "new_calls": self.new_calls,
        }


@dataclass(frozen=True, slots=True)
class SequentialSummary:
    """How the decision was reached and what it cost."""

    planned: int
    looks: tuple[LookRecord, ...]
    stopped: str  # why the gate stopped looking
    spent: Spend
    advice: str = ""  # INCONCLUSIVE only: what would decide it, bounded

    @property
    def evaluations(self) -> int:
        return self.looks[-1].evaluations if self.looks else 0

    def describe(self) -> str:
        last = self.looks[-1]
        return (
            f"{self.stopped} at look {last.index} of {self.planned} "
            f"({last.cases} cases × {last.repeats} repeats, {last.confidence:.2%} CIs per look): "
            f"{self.evaluations} answers compared, {self.spent.calls} new calls, "
            f"${self.spent.usd:.4f}, {self.spent.seconds:.0f} s"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "planned_looks": self.planned,
            "looks": [look.to_json() for look in self.looks],
            "stopped": self.stopped,
            "evaluations": self.evaluations,
            "new_calls": self.spent.calls,
            "spent_usd": self.spent.usd,
            "seconds": round(self.spent.seconds, 3),
            "advice": self.advice or None,
        }


def advice(decision: Decision, axes: dict[str, AxisEstimate], summary_calls: int) -> str:
    """What would decide an INCONCLUSIVE gate, bounded by MAX_GROWTH× the evaluations so far."""
    if decision.verdict is not Verdict.INCONCLUSIVE:
        return ""
    worst = 1.0
    stuck: list[str] = []
    for outcome in decision.outcomes:
        estimate = axes.get(outcome.axis)
        if outcome.verdict is not Verdict.INCONCLUSIVE or outcome.interval is None:
            continue
        if estimate is None:
            continue
        boundary = -outcome.margin if estimate.kind == "quality" else outcome.margin
        factor = growth_needed(estimate, outcome.interval, boundary)
        if factor > MAX_GROWTH:
            stuck.append(outcome.axis)
        worst = max(worst, factor)
    if stuck:
        return (
            f"cannot be decided within {MAX_GROWTH:g}× this sample "
            f"({math.ceil(MAX_GROWTH * summary_calls)} answers): {', '.join(stuck)} "
            "sits on its margin; widen the margin if that change is acceptable"
        )
    if worst <= 1.0:
        return "more cases (the policy's min_cases) would decide it"
    needed = math.ceil(summary_calls * worst)
    return (
        f"≈ {needed} answers in all would decide it if the observed changes hold "
        "(raise sequential.budget.calls or add cases)"
    )


__all__ = [
    "Look",
    "LookRecord",
    "SequentialSummary",
    "Spend",
    "advice",
    "look_confidence",
    "over_budget",
    "plan_looks",
]
