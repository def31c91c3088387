"""The noise floor, in the manner of Twitter's Diffy: a difference counts only beyond the noise.

An LLM asked the same thing twice answers differently. So "the candidate's JSON field `intent`
differs from production's on 30% of requests" means nothing alone: the production release
itself, asked again (a *twin* pair), may differ on 28%. Diffy's answer is to measure that floor
and flag a difference class only where the candidate's rate exceeds the twin rate by both a
relative and an absolute margin. We add an interval, since rates from a few hundred pairs move
by chance:

    flagged  ⇔  rate_candidate - rate_twin ≥ absolute            (default 2 percentage points)
             and rate_candidate ≥ (1 + relative) × rate_twin      (default +25%)
             and the interval on rate_candidate - rate_twin lies above 0

The interval respects clustering: a user sends many similar requests, so the rate of a class is
a ratio of per-unit sums (pairs showing it / pairs) whose variance comes from the delta method
over units (`rampway.stats.ratio_summary`, as the rollout judge and the experiment analysis
do). Newcombe's score interval, which behaves for rates near 0 but ignores clustering, is taken
too, and the wider envelope of the two is the one shown and used. With `familywise` (default) the
interval of each class is at level 1 - (1 - level) / m for the m classes the candidate shows
(Bonferroni), so an equivalent candidate stays clean however many classes its answers produce.

Candidate and twin pairs share their primary answers when both are mirrored for one request;
their rates are then positively correlated, and treating them as independent (as here) makes the
interval wider than necessary, never narrower.

With no twin pairs there is no measured floor: every class is held against `fixed_floor` (5% of
pairs by default), and the result says so (`source == "fixed"`).

    floor = noise_floor(candidate_classes, candidate_units, twin_classes, twin_units)
    [c.name for c in floor.flagged]       # ['verbosity:longer_2x', 'failure:invalid_json']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from rampway.shadow.compare import class_scope
from rampway.stats import (
    ArmSummary,
    Interval,
    proportion_diff_ci,
    ratio_summary,
    wilson_interval,
)
from rampway.stats._dist import norm_ppf

FloorSource = Literal["twin", "fixed"]


@dataclass(frozen=True, slots=True)
class Margins:
    """When a difference class counts as beyond noise (see the module docstring)."""

    relative: float = 0.25
    absolute: float = 0.02
    level: float = 0.95
    familywise: bool = True
    fixed_floor: float = 0.05

    def __post_init__(self) -> None:
        if not (self.relative >= 0 and 0 <= self.absolute < 1 and 0 < self.level < 1
                and 0 <= self.fixed_floor < 1):
            raise ValueError(f"margins out of range: {self}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_MARGINS = Margins()


@dataclass(frozen=True, slots=True)
class ClassRate:
    """One difference class: its rate among candidate pairs against the floor, and the verdict.

    Rates are among the pairs in the class's `scope`; `difference` is candidate rate - floor
    rate; `floor_count` and `floor_pairs` are None for a fixed floor.
    """

    name: str
    scope: str
    candidate_count: int
    candidate_pairs: int
    floor_count: int | None
    floor_pairs: int | None
    difference: Interval
    flagged: bool
    reason: str
    floor_rate: float

    @property
    def candidate_rate(self) -> float:
        return self.candidate_count / self.candidate_pairs if self.candidate_pairs else math.nan

    def to_json(self) -> dict[str, Any]:
        return {"class": self.name, "scope": self.scope, "candidate_count": self.candidate_count,
                "candidate_pairs": self.candidate_pairs, "candidate_rate": self.candidate_rate,
                "floor_count": self.floor_count, "floor_pairs": self.floor_pairs,
                "floor_rate": self.floor_rate, "difference": self.difference.as_dict(),
                "flagged": self.flagged, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class NoiseFloor:
    """Every class's rate against the floor; `level` is the per-class interval level used."""

    source: FloorSource
    note: str
    margins: Margins
    level: float
    candidate_pairs: int
    candidate_units: int
    twin_pairs: int
    twin_units: int
    classes: tuple[ClassRate, ...]

    @property
    def flagged(self) -> tuple[ClassRate, ...]:
        return tuple(c for c in self.classes if c.flagged)


class _Arm:
    """One kind of pairs: which unit each pair belongs to, which scopes it is in, and where
    each class occurs. Without scopes every pair is in every scope."""

    def __init__(self, classes: Sequence[frozenset[str]], units: Sequence[Hashable],
                 scopes: Sequence[frozenset[str]] | None,
                 scope_of: Callable[[str], str]) -> None:
        if len(classes) != len(units) or (scopes is not None and len(scopes) != len(units)):
            raise ValueError(f"one unit (and scope set) per pair: {len(classes)} pairs, "
                             f"{len(units)} units")
        self.n = len(classes)
        self.scope_of = scope_of
        keys: dict[Hashable, int] = {}
        self.unit = np.fromiter((keys.setdefault(u, len(keys)) for u in units), np.intp, self.n)
        self.k = len(keys)
        self.where: dict[str, list[int]] = {}
        for i, found in enumerate(classes):
            for name in found:
                self.where.setdefault(name, []).append(i)
        self.in_scope: dict[str, list[int]] | None = None
        if scopes is not None:
            self.in_scope = {}
            for i, found in enumerate(scopes):
                for scope in found:
                    self.in_scope.setdefault(scope, []).append(i)
        self._per_unit: dict[str, NDArray[np.float64]] = {}

    def size(self, name: str) -> int:
        """How many pairs could show the class (its scope's pairs)."""
        if self.in_scope is None:
            return self.n
        return len(self.in_scope.get(self.scope_of(name), ()))

    def count(self, name: str) -> int:
        return len(self.where.get(name, ()))

    def rate(self, name: str) -> float:
        size = self.size(name)
        return self.count(name) / size if size else math.nan

    def per_unit(self, name: str) -> NDArray[np.float64]:
        """Pairs in the class's scope, per unit."""
        scope = self.scope_of(name)
        if scope not in self._per_unit:
            rows = self.unit if self.in_scope is None else self.unit[self.in_scope.get(scope, [])]
            self._per_unit[scope] = np.bincount(rows, minlength=self.k).astype(np.float64)
        return self._per_unit[scope]

    def summary(self, name: str) -> ArmSummary:
        """The class's rate over the units with pairs in scope, delta-method variance."""
        hits = np.bincount(self.unit[self.where.get(name, [])], minlength=self.k)
        sizes = self.per_unit(name)
        keep = sizes > 0
        return ratio_summary(hits[keep].astype(np.float64), sizes[keep])


def noise_floor(candidate: Sequence[frozenset[str]], candidate_units: Sequence[Hashable],
                twin: Sequence[frozenset[str]] = (), twin_units: Sequence[Hashable] = (),
                margins: Margins = DEFAULT_MARGINS, *,
                candidate_scopes: Sequence[frozenset[str]] | None = None,
                twin_scopes: Sequence[frozenset[str]] | None = None,
                scope_of: Callable[[str], str] = class_scope) -> NoiseFloor:
    """Judge each difference class of the candidate pairs against the twin pairs' rate (or the
    fixed floor when there are none). Sorted: flagged first, then by the difference.

    With `*_scopes` (each pair's `Comparison.scopes`) a class's rate is over the pairs in its
    scope (`scope_of`); without, over all pairs.
    """
    cand = _Arm(candidate, candidate_units, candidate_scopes, scope_of)
    tw = _Arm(twin, twin_units, twin_scopes, scope_of)
    names = sorted(cand.where)
    m = max(1, len(names)) if margins.familywise else 1
    level = 1 - (1 - margins.level) / m
    source: FloorSource = "twin" if tw.n else "fixed"
    rows = [_judge(name, cand, tw, margins, level, source) for name in names]
    rows += [_noise_only(name, cand, tw, level) for name in sorted(set(tw.where) - set(names))]
    rows.sort(key=lambda r: (not r.flagged, -_finite(r.difference.estimate), r.name))
    return NoiseFloor(source, _note(source, margins, m, level, cand, tw), margins, level,
                      cand.n, cand.k, tw.n, tw.k, tuple(rows))


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def _note(source: FloorSource, margins: Margins, m: int, level: float, cand: _Arm,
          tw: _Arm) -> str:
    per_class = (f"intervals at {level:.4g} per class (Bonferroni over {m} classes)"
                 if margins.familywise else f"intervals at {level:.4g} per class")
    if source == "fixed":
        return (f"no twin pairs: fixed noise floor of {margins.fixed_floor:.0%} for every "
                f"class, not measured — mirror twins to measure it; {per_class}")
    return (f"noise floor measured on {tw.n} twin pairs ({tw.k} units) against {cand.n} "
            f"candidate pairs ({cand.k} units); {per_class}")


def _judge(name: str, cand: _Arm, tw: _Arm, margins: Margins, level: float,
           source: FloorSource) -> ClassRate:
    rate = cand.rate(name)
    scope = cand.scope_of(name)
    if source == "fixed":
        floor_rate, floor_count, floor_pairs = margins.fixed_floor, None, None
        diff = _fixed_difference(name, cand, margins.fixed_floor, level)
    else:
        floor_rate, floor_count, floor_pairs = tw.rate(name), tw.count(name), tw.size(name)
        diff = _twin_difference(name, cand, tw, level)
    flagged, reason = _verdict(rate, floor_rate, diff, margins)
    return ClassRate(name, scope, cand.count(name), cand.size(name), floor_count, floor_pairs,
                     diff, flagged, reason, floor_rate)


def _noise_only(name: str, cand: _Arm, tw: _Arm, level: float) -> ClassRate:
    diff = _twin_difference(name, cand, tw, level)
    return ClassRate(name, cand.scope_of(name), 0, cand.size(name), tw.count(name),
                     tw.size(name), diff, False, "only between the primary and its twin: noise",
                     tw.rate(name))


def _z(level: float) -> float:
    return norm_ppf((1 + level) / 2)


def _twin_difference(name: str, cand: _Arm, tw: _Arm, level: float) -> Interval:
    """rate_candidate - rate_twin: the envelope of the clustered delta-method interval and
    Newcombe's (unclustered) score interval."""
    a, b = tw.count(name), cand.count(name)
    ns = (tw.size(name), cand.size(name))
    if min(ns) == 0:
        return Interval(math.nan, -math.inf, math.inf, level, "delta-cluster+newcombe", ns)
    score = proportion_diff_ci(a, ns[0], b, ns[1], level=level)
    sa, sb = tw.summary(name), cand.summary(name)
    se = math.sqrt(sa.variance / sa.n + sb.variance / sb.n) if min(sa.n, sb.n) >= 2 else math.nan
    est = b / ns[1] - a / ns[0]
    if not math.isfinite(se):
        return Interval(est, -math.inf, math.inf, level, "delta-cluster+newcombe", ns)
    z = _z(level)
    lower, upper = min(est - z * se, score.lower), max(est + z * se, score.upper)
    return Interval(est, lower, upper, level, "delta-cluster+newcombe", ns)


def _fixed_difference(name: str, cand: _Arm, floor: float, level: float) -> Interval:
    """rate_candidate - floor: the envelope of the clustered delta-method interval and Wilson's
    score interval of the candidate rate, shifted by the floor."""
    b, size = cand.count(name), cand.size(name)
    ns = (size,)
    s = cand.summary(name)
    rate = b / size
    est = rate - floor
    if s.n < 2 or not math.isfinite(s.variance):
        return Interval(est, -math.inf, math.inf, level, "delta-cluster+wilson", ns)
    lo, hi = wilson_interval(b, size, level)
    half = _z(level) * math.sqrt(s.variance / s.n)
    lower, upper = min(rate - half, lo) - floor, max(rate + half, hi) - floor
    return Interval(est, lower, upper, level, "delta-cluster+wilson", ns)


def _verdict(rate: float, floor_rate: float, diff: Interval,
             margins: Margins) -> tuple[bool, str]:
    pp = f"{diff.estimate * 100:+.1f}pp"
    if not diff.informative:
        return False, f"{pp}: too few pairs or units to bound the difference"
    span = f"[{diff.lower * 100:+.1f}, {diff.upper * 100:+.1f}]pp"
    if diff.lower <= 0:
        return False, f"{pp} {span}: within noise (the interval includes 0)"
    if diff.estimate < margins.absolute:
        return False, f"{pp} {span}: below the absolute margin of {margins.absolute * 100:g}pp"
    if rate < (1 + margins.relative) * floor_rate:
        return False, (f"{pp} {span}: {rate / floor_rate:.2f}× the floor, below the relative "
                       f"margin of {1 + margins.relative:g}×")
    above = f"{rate / floor_rate:.1f}× the floor" if floor_rate > 0 else "never at the floor"
    return True, f"{pp} {span}: {above}"


__all__ = ["DEFAULT_MARGINS", "ClassRate", "FloorSource", "Margins", "NoiseFloor", "noise_floor"]
