"""Tables of records that run until stopped (experiments, shadows): reading them, stopping one.

Experiments and shadows keep one row per start, kept after it stops, and free their "running"
slot on stop: the table's `active_column` (UNIQUE, NULL once stopped) is what lets the database
refuse a second running one. Reading such rows and stopping one is the same for both, so it
lives here once; each repo says which table, object type and active column it has:

    rows = RunningTable(shadows, "shadow", "active_name", record_from)
    rows.latest(store, "v3-on-prod")        # RefError: no shadow 'v3-on-prod' was ever started
    rows.stop(store, record, actor="ana", reason="enough pairs", now=time.time())

Stopping is one transaction: the row goes `running` → `stopped` only if its version is still
the one read (optimistic locking), the audit entry `<object_type>.stop` on `<name>#<id>` is
written and the control version bumped, so every gateway sees the stop within its poll interval.
A stale `expected_version` or a change in between is ConflictError; an already stopped one
StateConflict. Errors name the object type ("shadow 'x' (#3) is already stopped").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import sqlalchemy as sa

from rampway._reason import require_reason
from rampway.errors import ConflictError, RefError, StateConflict

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from rampway.store._store import Store


class Running(Protocol):
    """What stopping reads of a record (ExperimentRecord and ShadowRecord have it)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def version(self) -> int: ...


R = TypeVar("R", bound=Running)


@dataclass(frozen=True)
class RunningTable(Generic[R]):
    """One table of records that run until stopped, read as `record_from` builds them."""

    table: sa.Table
    object_type: str  # the audit log's object type, and the noun of every error
    active_column: str  # NULL once stopped, UNIQUE while running
    record_from: Callable[[Mapping[str, Any]], R]
    #: what else a stop writes, in its transaction (connection, record, stop time)
    stopping: Callable[[Connection, R, float], None] | None = None

    def _one(self, store: Store, query: sa.Select[Any]) -> R | None:
        with store.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else self.record_from(dict(row._mapping))

    def _all(self, store: Store, query: sa.Select[Any]) -> list[R]:
        with store.reading() as conn:
            rows = conn.execute(query).all()
        return [self.record_from(dict(r._mapping)) for r in rows]

    def get(self, store: Store, record_id: int) -> R:
        found = self._one(store, sa.select(self.table).where(self.table.c.id == record_id))
        if found is None:
            raise RefError(f"no {self.object_type} #{record_id}")
        return found

    def latest(self, store: Store, name: str) -> R:
        """The most recent one called `name` (running or stopped); RefError if none."""
        t = self.table
        found = self._one(store, sa.select(t).where(t.c.name == name)
                          .order_by(t.c.id.desc()).limit(1))
        if found is None:
            raise RefError(f"no {self.object_type} {name!r} was ever started")
        return found

    def running(self, store: Store, key: str) -> R | None:
        """The running one whose active column is `key`, if any (there is at most one)."""
        active = self.table.c[self.active_column]
        return self._one(store, sa.select(self.table).where(active == key))

    def list_running(self, store: Store) -> list[R]:
        active = self.table.c[self.active_column]
        return self._all(store, sa.select(self.table).where(active.is_not(None))
                         .order_by(self.table.c.id))

    def recent(
        self, store: Store, *, feature: str | None = None, name: str | None = None,
        running_only: bool = False, limit: int = 100,
    ) -> list[R]:
        """Newest first, optionally of one feature / name, or only the running ones."""
        t = self.table
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if feature is not None:
            query = query.where(t.c.feature == feature)
        if name is not None:
            query = query.where(t.c.name == name)
        if running_only:
            query = query.where(t.c[self.active_column].is_not(None))
        return self._all(store, query)

    def stop(
        self, store: Store, record: R, *, actor: str, reason: str, now: float,
        expected_version: int | None = None,
    ) -> R:
        """Stop `record` (see the module docstring) and return it as stored now."""
        what = f"{self.object_type} {record.name!r}"
        require_reason(reason, f"stopping {what}")
        if expected_version is not None and expected_version != record.version:
            raise ConflictError(f"{what} is at version {record.version}, "
                                f"not {expected_version}; read it again")
        if record.status != "running":
            raise StateConflict(f"{what} (#{record.id}) is already stopped")
        if not self._stopped(store, record, actor=actor, reason=reason, now=now):
            if self.get(store, record.id).status != "running":
                raise StateConflict(f"{what} (#{record.id}) is already stopped")
            raise ConflictError(f"{what} changed meanwhile; read it again")
        return self.get(store, record.id)

    def _stopped(self, store: Store, record: R, *, actor: str, reason: str, now: float) -> bool:
        """The update, its audit entry and the control-version bump; False if the row had
        changed (another stop, another writer) since `record` was read."""
        t, stopped_at = self.table, datetime.fromtimestamp(now, UTC)
        with store.transaction() as conn:
            changed = conn.execute(
                t.update()
                .where(t.c.id == record.id, t.c.version == record.version,
                       t.c.status == "running")
                .values({self.active_column: None, "status": "stopped",
                         "stopped_at": stopped_at, "stopped_by": actor,
                         "stop_reason": reason, "version": record.version + 1})
            ).rowcount
            if changed == 1:
                if self.stopping is not None:
                    self.stopping(conn, record, now)
                store.record_audit(
                    actor=actor, action=f"{self.object_type}.stop",
                    object_type=self.object_type, object_id=f"{record.name}#{record.id}",
                    before={"status": "running", "version": record.version},
                    after={"status": "stopped", "version": record.version + 1,
                           "stopped_at": stopped_at.isoformat()},
                    reason=reason, conn=conn,
                )
                store.bump_control_version(conn)
        return bool(changed == 1)


__all__ = ["Running", "RunningTable"]
