"""Allocations: how a salt's 10,000 buckets are split among named arms.

Layout (what makes assignment sticky): arms take consecutive slots from bucket 0 in the order
listed, arm `i` owning `[S_i, S_i + w_i)` where `S_i` is the sum of the weights before it. With
a `coverage` below 100%, arm `i` uses the buckets `n` of its slot with `n < S_i + w_i * coverage
/ 10000`, i.e. the first `ceil(w_i * coverage / 10000)` — GrowthBook's `getBucketRanges` layout
(`[start, start + coverage * weight)` compared with `bucket / 10000`, in floating point like the
SDKs), so a unit lands in the same arm under rampway and any GrowthBook SDK. Buckets owned by no
arm — the remainder past the sum of the weights, or the unused tail of each slot — are "not in
the allocation": `assign` returns `None` and the caller serves its default (the baseline, or the
next flag rule) and records no exposure.

Two changes are sticky by construction:

* a rollout listed candidate-first, `[(candidate, w), (baseline, 10000 - w)]`: raising `w` only
  moves baseline units to the candidate — the units that had the candidate at 1% keep it at 5%;
* raising `coverage` with fixed weights: units already in an arm stay in it.

Anything else (reordering arms, changing the salt, moving weight between arms that are not
first) may reshuffle units; use a new salt when a fresh, independent split is wanted. Different
features and experiments must use different salts: buckets under two salts are independent.

    >>> a = Allocation.rollout("support-bot:r3", candidate="r3", baseline="r2", weight_bp=500)
    >>> a.assign("user-42") in ("r3", "r2")
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rampway.assign._hash import BUCKETS, cached_bucket, salt_state
from rampway.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Allocation:
    """Weights in basis points (1/100 of a percent) per named arm under one salt.

    `arms` is a sequence of `(name, weight_bp)`; weights are integers >= 0 summing to at most
    10000; names are unique and non-empty. Invalid allocations raise `ConfigError`.
    """

    salt: str
    arms: tuple[tuple[str, int], ...]
    coverage_bp: int = BUCKETS
    _state: int = field(init=False, repr=False, compare=False)
    _bounds: tuple[tuple[int, int, str], ...] = field(init=False, repr=False, compare=False)

    def __init__(
        self, salt: str, arms: Sequence[tuple[str, int]], coverage_bp: int = BUCKETS
    ) -> None:
        arms_t = tuple((str(name), weight) for name, weight in arms)
        _validate(salt, arms_t, coverage_bp)
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "arms", arms_t)
        object.__setattr__(self, "coverage_bp", coverage_bp)
        object.__setattr__(self, "_state", salt_state(salt))
        object.__setattr__(self, "_bounds", _layout(arms_t, coverage_bp))

    @classmethod
    def rollout(cls, salt: str, *, candidate: str, baseline: str, weight_bp: int) -> Allocation:
        """Candidate on `[0, weight_bp)`, baseline on the rest: sticky as the weight grows."""
        return cls(salt, [(candidate, weight_bp), (baseline, BUCKETS - weight_bp)])

    def ranges(self) -> list[tuple[str, int, int]]:
        """`(arm, start, end)` half-open bucket ranges of the arms that own buckets."""
        return [(name, start, end) for start, end, name in self._bounds]

    def bucket(self, unit: str) -> int:
        """The unit's bucket under this allocation's salt, in [0, 10000)."""
        return cached_bucket(self._state, unit)

    def arm_of_bucket(self, n: int) -> str | None:
        """The arm owning bucket `n`, or None when the bucket is outside every arm."""
        for start, end, name in self._bounds:
            if n < end:
                return name if n >= start else None
        return None

    def assign(self, unit: str) -> str | None:
        """The unit's arm, or None when it falls outside the allocation (see module docs)."""
        return self.arm_of_bucket(cached_bucket(self._state, unit))


def assign(allocation: Allocation, unit: str) -> str | None:
    """Function form of `Allocation.assign`."""
    return allocation.assign(unit)


def _validate(salt: str, arms: tuple[tuple[str, int], ...], coverage_bp: int) -> None:
    if not isinstance(salt, str) or not salt:
        raise ConfigError("allocation salt must be a non-empty string")
    names = [name for name, _ in arms]
    if any(not name for name in names):
        raise ConfigError("allocation arm names must be non-empty")
    if len(set(names)) != len(names):
        raise ConfigError(f"allocation arm names must be unique, got {names}")
    for name, weight in arms:
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ConfigError(f"arm '{name}': weight must be an integer >= 0 basis points")
    total = sum(weight for _, weight in arms)
    if total > BUCKETS:
        raise ConfigError(f"allocation weights sum to {total} bp, more than {BUCKETS}")
    if isinstance(coverage_bp, bool) or not isinstance(coverage_bp, int):
        raise ConfigError("allocation coverage must be an integer number of basis points")
    if not 0 <= coverage_bp <= BUCKETS:
        raise ConfigError(f"allocation coverage must be within [0, {BUCKETS}] bp")


def _layout(
    arms: tuple[tuple[str, int], ...], coverage_bp: int
) -> tuple[tuple[int, int, str], ...]:
    """`(start, end, arm)` per arm with a non-empty range, in bucket order.

    Computed exactly as GrowthBook's `getBucketRanges` does, in floating point (`start` the
    running float sum of the weights, `end = start + coverage * weight`), then read back as
    the integer buckets `n` with `start <= n / 10000 < end`: exact integer arithmetic would
    differ at a few slot edges (0.1 + 0.2 > 0.3), and there the same hash must still get
    the same arm as in any GrowthBook SDK.
    """
    coverage = coverage_bp / BUCKETS
    bounds: list[tuple[int, int, str]] = []
    cumulative = 0.0
    for name, weight in arms:
        share = weight / BUCKETS
        start = cumulative
        cumulative += share
        low, high = _first_bucket_at(start), _first_bucket_at(start + coverage * share)
        if high > low:
            bounds.append((low, high, name))
    return tuple(bounds)


def _first_bucket_at(x: float) -> int:
    """The smallest bucket n in [0, 10000] with n / 10000 >= x (GrowthBook's float compare)."""
    n = min(max(math.ceil(x * BUCKETS), 0), BUCKETS)
    while n > 0 and (n - 1) / BUCKETS >= x:
        n -= 1
    while n < BUCKETS and n / BUCKETS < x:
        n += 1
    return n
