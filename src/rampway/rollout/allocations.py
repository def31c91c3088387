"""What the gateway asks per request: is this unit in a rollout's candidate arm?

`ActiveAllocations.load(store)` reads the active rollouts once (the gateway does it when the
store's control version moves — every rollout transition bumps it); `choose(feature, unit)` is
then a dict lookup plus one cached hash, with no I/O:

    allocations = ActiveAllocations.load(store)
    allocations.choose("support-bot", "user-42")   # ('candidate', 'support-bot@9f1c…') | None

Assignment is `rampway.assign.Allocation.rollout` under the salt `rollout:<feature>:<id>`:
candidate on buckets [0, weight), baseline on the rest, so a unit that got the candidate at 1%
keeps it at 5%, 25%, … (sticky), and a new rollout of the same feature draws a fresh split.

The unit is the plan's `unit:`: the user unit (default) or, with `unit: session`, the session
id (`by_session`), so one user's sessions are split independently.

Requests without that unit (no user unit, or no session id under `unit: session`): the gateway
passes the request id instead. Those requests are then randomised per request — unbiased for
the comparison, but not sticky (a user without an id may see both releases). Features that
need stickiness set `require_unit: true` (user), `session` or `both` in rampway.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rampway.assign import Allocation
from rampway.rollout.repo import RolloutRecord, list_active
from rampway.store import Store

Arm = Literal["baseline", "candidate"]


@dataclass(frozen=True, slots=True)
class RolloutAllocation:
    rollout_id: int
    feature: str
    candidate: str
    baseline: str
    baseline_channel: str
    weight_bp: int
    allocation: Allocation
    by_session: bool = False  # the plan's `unit: session`: hash the session id, not the user

    @classmethod
    def of(cls, rollout: RolloutRecord) -> RolloutAllocation:
        allocation = Allocation.rollout(
            rollout.salt, candidate="candidate", baseline="baseline", weight_bp=rollout.weight_bp
        )
        return cls(rollout.id, rollout.feature, rollout.candidate, rollout.baseline,
                   rollout.baseline_channel, rollout.weight_bp, allocation,
                   rollout.plan.unit == "session")

    def choose(self, unit: str) -> tuple[Arm, str]:
        if self.weight_bp and self.allocation.assign(unit) == "candidate":
            return "candidate", self.candidate
        return "baseline", self.baseline


class ActiveAllocations:
    """Immutable per-feature rollout allocations; swap the whole object on reload."""

    __slots__ = ("by_feature",)

    def __init__(self, by_feature: Mapping[str, RolloutAllocation]) -> None:
        self.by_feature = dict(by_feature)

    @classmethod
    def empty(cls) -> ActiveAllocations:
        return cls({})

    @classmethod
    def load(cls, store: Store) -> ActiveAllocations:
        return cls({r.feature: RolloutAllocation.of(r) for r in list_active(store)})

    def get(self, feature: str) -> RolloutAllocation | None:
        return self.by_feature.get(feature)

    def choose(self, feature: str, unit: str) -> tuple[Arm, str] | None:
        """(arm, release id) for this unit, or None when the feature has no active rollout.

        For the baseline arm the release id is the one the rollout compares against; a server
        may keep serving its channel as usual and just label the request `baseline`.
        """
        found = self.by_feature.get(feature)
        return None if found is None else found.choose(unit)

    def candidate_releases(self) -> dict[str, str]:
        """feature → candidate release id, for preloading releases into a serving snapshot."""
        return {f: a.candidate for f, a in self.by_feature.items()}


__all__ = ["ActiveAllocations", "Arm", "RolloutAllocation"]
