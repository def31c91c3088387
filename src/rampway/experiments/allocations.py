"""What the gateway asks per request: which arm of a running experiment serves this unit?

`ActiveExperiments.load(store)` reads the running experiments once (the gateway does it when the
store's control version moves — starting or stopping an experiment bumps it); `choose(feature,
unit)` is then a dict lookup plus one cached hash, with no I/O:

    experiments = ActiveExperiments.load(store)
    experiments.choose("support-bot", "user-42")   # ('friendly', 'support-bot@9c1e…') | None

Assignment is `rampway.assign.Allocation` under the salt `experiment:<feature>:<id>`, the arms
laid out in the order the definition lists them, with the experiment's coverage: a unit keeps
its arm for the whole experiment (sticky), and a new experiment draws a fresh split. `None`
means "not in the experiment": the feature has none running, or the unit fell outside the
coverage — the caller serves production and records no exposure.

The unit is the experiment's `unit:`: the user unit (default) or, with `unit: session`, the
session id (`by_session`). Requests without that unit (no user unit, or no session id under
`unit: session`) are never in the experiment (they could not be counted per unit):
`control(feature)` gives the release to serve them — the control arm's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rampway.assign import Allocation
from rampway.experiments.model import Arm, ExperimentRecord
from rampway.experiments.repo import list_running
from rampway.store import Store


@dataclass(frozen=True, slots=True)
class ExperimentAllocation:
    experiment_id: int
    name: str
    feature: str
    arms: tuple[Arm, ...]  # arms[0] is the control
    coverage_bp: int
    allocation: Allocation
    releases: Mapping[str, str]  # arm name -> release id
    by_session: bool = False  # `unit: session`: hash the session id, not the user unit

    @classmethod
    def of(cls, record: ExperimentRecord) -> ExperimentAllocation:
        allocation = Allocation(record.salt, [(a.name, a.weight_bp) for a in record.arms],
                                coverage_bp=record.coverage_bp)
        return cls(record.id, record.name, record.feature, record.arms, record.coverage_bp,
                   allocation, {a.name: a.release_id for a in record.arms},
                   record.unit == "session")

    @property
    def control(self) -> Arm:
        return self.arms[0]

    def choose(self, unit: str) -> tuple[str, str] | None:
        """(arm name, release id) for this unit, or None when it is outside the coverage."""
        arm = self.allocation.assign(unit)
        return None if arm is None else (arm, self.releases[arm])


class ActiveExperiments:
    """Immutable per-feature experiment allocations; swap the whole object on reload."""

    __slots__ = ("by_feature",)

    def __init__(self, by_feature: Mapping[str, ExperimentAllocation]) -> None:
        self.by_feature = dict(by_feature)

    @classmethod
    def empty(cls) -> ActiveExperiments:
        return cls({})

    @classmethod
    def load(cls, store: Store) -> ActiveExperiments:
        return cls.of(list_running(store))

    @classmethod
    def of(cls, records: list[ExperimentRecord]) -> ActiveExperiments:
        return cls({r.feature: ExperimentAllocation.of(r) for r in records if r.running})

    def get(self, feature: str) -> ExperimentAllocation | None:
        return self.by_feature.get(feature)

    def choose(self, feature: str, unit: str | None) -> tuple[str, str] | None:
        """(arm name, release id) for this unit; None when the feature runs no experiment, the
        unit is outside the coverage, or there is no unit (see `control`)."""
        found = self.by_feature.get(feature)
        if found is None or not unit:
            return None
        return found.choose(unit)

    def control(self, feature: str) -> str | None:
        """The control arm's release id (what unit-less requests get), None without experiment."""
        found = self.by_feature.get(feature)
        return None if found is None else found.control.release_id

    def release_ids(self) -> dict[str, set[str]]:
        """feature → every arm's release id, for preloading releases into a serving snapshot."""
        return {f: set(a.releases.values()) for f, a in self.by_feature.items()}


__all__ = ["ActiveExperiments", "ExperimentAllocation"]
