"""What a serving process asks per request: which running shadows mirror this call?

`ActiveShadows.load(store)` reads the running shadows once (the control watcher does it when the
control version moves — starting or stopping a shadow bumps it, so a stop reaches every gateway
within a second); per call, `for_feature` is a dict lookup and `ActiveShadow.sampled` one cached
hash, with no I/O:

    active = ActiveShadows.load(store)
    for shadow in active.for_feature("support-bot"):
        shadow.sampled("user-42")        # sticky: the same unit is always in, or always out

Sampling is `rampway.assign`'s bucket of the unit under the shadow's salt (`shadow:<name>:<id>`),
so a user's whole conversation is mirrored or none of it; a request without a unit is sampled on
its request id. The twin draw (which mirrored requests are also re-asked of the primary's release)
hashes the request id under its own salt, spreading the noise floor over all sampled users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rampway.assign import cached_bucket, salt_state
from rampway.flags import compile_condition
from rampway.shadow.record import ShadowRecord
from rampway.shadow.repo import list_running
from rampway.store import Store

Predicate = Any  # (context mapping) -> bool, from rampway.flags' compiler


@dataclass(frozen=True, slots=True)
class ActiveShadow:
    record: ShadowRecord
    predicate: Predicate | None
    sample_state: int
    twin_state: int

    @classmethod
    def of(cls, record: ShadowRecord) -> ActiveShadow:
        condition = record.condition
        predicate = None if condition is None else compile_condition(dict(condition),
                                                                     "condition")
        return cls(record, predicate, salt_state(record.salt),
                   salt_state(record.salt + ":twin"))

    def sampled(self, unit: str) -> bool:
        bp = self.record.sample_bp
        return bp >= 10_000 or (bp > 0 and cached_bucket(self.sample_state, unit) < bp)

    def twinned(self, request_id: str) -> bool:
        bp = self.record.twin_bp
        return bp >= 10_000 or (bp > 0 and cached_bucket(self.twin_state, request_id) < bp)


class ActiveShadows:
    """Immutable per-feature running shadows; swap the whole object on reload."""

    __slots__ = ("by_feature",)

    def __init__(self, by_feature: Mapping[str, tuple[ActiveShadow, ...]]) -> None:
        self.by_feature = dict(by_feature)

    @classmethod
    def empty(cls) -> ActiveShadows:
        return cls({})

    @classmethod
    def load(cls, store: Store) -> ActiveShadows:
        return cls.of(list_running(store))

    @classmethod
    def of(cls, records: list[ShadowRecord]) -> ActiveShadows:
        by_feature: dict[str, list[ActiveShadow]] = {}
        for r in records:
            if r.running:
                by_feature.setdefault(r.feature, []).append(ActiveShadow.of(r))
        return cls({f: tuple(found) for f, found in by_feature.items()})

    def for_feature(self, feature: str) -> tuple[ActiveShadow, ...]:
        return self.by_feature.get(feature, ())

    def release_ids(self) -> dict[str, set[str]]:
        """feature → every candidate's release id, for preloading into a serving snapshot."""
        return {f: {rid for s in found for rid in s.record.candidates}
                for f, found in self.by_feature.items()}


__all__ = ["ActiveShadow", "ActiveShadows"]
