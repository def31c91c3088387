"""Stopping a running record (an experiment, a shadow): one versioned update, audited.

Experiments and shadows keep one row per start and free their "running" slot on stop: the
table's `active_column` (UNIQUE, NULL once stopped) is what lets the database refuse a second
running one. Stopping is the same for both, so it lives here once:

    stop_running(store, shadows, record, object_type="shadow", active_column="active_name",
                 actor="ana", reason="enough pairs", now=time.time(), expected_version=None,
                 reread=lambda record_id: get(store, record_id))

In one transaction: the row goes `running` → `stopped` only if its version is still the one
read (optimistic locking), the audit entry `<object_type>.stop` on `<name>#<id>` is written and
the control version bumped, so every gateway sees the stop within its poll interval. A stale
`expected_version` or a change in between is ConflictError; an already stopped one
StateConflict. Errors name the object type as their noun ("shadow 'x' (#3) is already stopped").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

import sqlalchemy as sa

from rampway.errors import ConflictError, StateConflict

if TYPE_CHECKING:
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


def stop_running(
    store: Store,
    table: sa.Table,
    record: R,
    *,
    object_type: str,
    active_column: str,
    actor: str,
    reason: str,
    now: float,
    expected_version: int | None,
    reread: Callable[[int], R],
) -> R:
    """Stop `record` (a row of `table`) and return it as stored now, read with `reread`."""
    what = f"{object_type} {record.name!r}"
    if expected_version is not None and expected_version != record.version:
        raise ConflictError(f"{what} is at version {record.version}, "
                            f"not {expected_version}; read it again")
    if record.status != "running":
        raise StateConflict(f"{what} (#{record.id}) is already stopped")
    stopped_at = datetime.fromtimestamp(now, UTC)
    with store.transaction() as conn:
        changed = conn.execute(
            table.update()
            .where(table.c.id == record.id, table.c.version == record.version,
                   table.c.status == "running")
            .values({active_column: None, "status": "stopped", "stopped_at": stopped_at,
                     "stopped_by": actor, "stop_reason": reason, "version": record.version + 1})
        ).rowcount
        if changed == 1:
            store.record_audit(
                actor=actor, action=f"{object_type}.stop", object_type=object_type,
                object_id=f"{record.name}#{record.id}",
                before={"status": "running", "version": record.version},
                after={"status": "stopped", "version": record.version + 1,
                       "stopped_at": stopped_at.isoformat()},
                reason=reason, conn=conn,
            )
            store.bump_control_version(conn)
    if changed != 1:
        if reread(record.id).status != "running":
            raise StateConflict(f"{what} (#{record.id}) is already stopped")
        raise ConflictError(f"{what} changed meanwhile; read it again")
    return reread(record.id)


__all__ = ["Running", "stop_running"]
