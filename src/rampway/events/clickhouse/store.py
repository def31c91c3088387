"""`ClickHouseEvents`: the event log in ClickHouse, opened and migrated.

    events = ClickHouseEvents.open(parse_events_url("chdb:///srv/rampway/events"),
                                   retention_s=90 * 86400)
    writer = EventWriter(events.sink())          # the gateway's events go there
    extraction = load_units(events, feature=…)   # rampway.experiments.extract reads it
    look = events.load_look(feature=…)           # a rollout judge's look (Controller(events=…))
    events.close()

Opening applies the migrations not yet applied (`schema.MIGRATIONS`) and sets the tables'
TTL to the retention (`gateway.events.retention`; None keeps every event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from rampway.events.clickhouse import schema
from rampway.events.clickhouse._url import EventsTarget
from rampway.events.clickhouse.backend import Backend, open_backend
from rampway.events.clickhouse.sink import ClickHouseSink
from rampway.experiments.extract import Extraction
from rampway.experiments.model import Arm

if TYPE_CHECKING:
    from rampway.events.clickhouse.guard import ClickHouseGuard
    from rampway.rollout.plan import Guardrail
    from rampway.rollout.totals import LookTotals
    from rampway.store import Store


class ClickHouseEvents:
    def __init__(self, backend: Backend, *, retention_s: float | None = None,
                 migrations: Sequence[schema.Migration] = schema.MIGRATIONS) -> None:
        self.backend = backend
        self.applied = schema.migrate(backend.command, self.versions, migrations)
        self.set_retention(retention_s)

    @classmethod
    def open(cls, target: EventsTarget, *, retention_s: float | None = None) -> ClickHouseEvents:
        backend = open_backend(target)
        try:
            return cls(backend, retention_s=retention_s)
        except BaseException:
            backend.close()
            raise

    def versions(self) -> list[int]:
        """The migrations applied, by version."""
        found = self.backend.columns(f"SELECT version FROM {schema.MIGRATIONS_TABLE}")
        return [int(v) for v in found[0]]

    def set_retention(self, retention_s: float | None) -> None:
        """Make the event tables' TTL match `retention_s` (seconds; None: no TTL), and make
        plain MergeTree tables skip a retried batch (`schema.dedup_statements`)."""
        names = ", ".join(schema.quote(t) for t in schema.EVENT_TABLES)
        tables, kinds, engines = self.backend.columns(
            "SELECT name, engine, engine_full FROM system.tables "
            f"WHERE database = currentDatabase() AND name IN ({names})")
        for table, kind, engine in zip(tables, kinds, engines, strict=True):
            for statement in [*schema.ttl_statements(table, engine, retention_s),
                              *schema.dedup_statements(table, kind, engine)]:
                self.backend.command(statement)

    def sink(self, store: Store | None = None) -> ClickHouseSink:
        """The gateway's sink; given the control `store`, it keeps the judge's roll-up there."""
        return ClickHouseSink(self.backend, store)

    def guard(self) -> ClickHouseGuard:
        """What the judge's roll-up reads here (`rampway.rollout.rollup.EventLog`)."""
        from rampway.events.clickhouse.guard import ClickHouseGuard

        return ClickHouseGuard(self.backend)

    def load_units(
        self, *, feature: str, arms: Sequence[Arm], since: float, until: float,
        feedback: Sequence[str] = (), latency: bool = False, quantiles: Sequence[float] = (),
        unit: str = "user",
    ) -> Extraction:
        """`rampway.experiments.extract.load_units` on these events."""
        from rampway.events.clickhouse.units import load_units

        return load_units(self.backend, feature=feature, arms=arms, since=since, until=until,
                          feedback=feedback, latency=latency, quantiles=quantiles, unit=unit)

    def load_look(
        self, *, feature: str, releases: Mapping[str, str], guardrails: Sequence[Guardrail],
        since: float, until: float, settle: float = 0.0, unit: str = "user",
    ) -> LookTotals:
        """`rampway.rollout.totals.load_totals` on these events: a rollout judge's look."""
        from rampway.events.clickhouse.totals import load_look

        return load_look(self.backend, feature=feature, releases=releases,
                         guardrails=guardrails, since=since, until=until, settle=settle,
                         unit=unit)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> ClickHouseEvents:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["ClickHouseEvents"]
