"""Retention for the rows request events reference: the values of `event_values` (attributes,
flag evaluations) and the shapes of `event_shapes` that no event can use any more.

Each distinct value is stored once and request rows keep its id (`rampway.events.values`), so
deleting events leaves their values behind: a new model name or system fingerprint per deploy,
attributes that carry a version, flag rules that changed. Retention (`rampway.events.retention`)
deletes them after the events, in bounded batches:

    pruned = prune_unused(store, cutoff)      # Pruned(values, shapes, complete)

Only `request_events` references them (`attributes_id`, `flags_id`, `shape_id`); feedback
events keep their attributes in their own row, the shadow pairs join the request row.

Which rows: those whose `last_used` is before the horizon

    horizon = floor - REFRESH_S - GRACE_S
    floor   = the earlier of the cutoff and the oldest request event still stored

and not one event is read to decide it: the event table has no index on these ids, and a scan
of weeks of events per run is what the partitioned log is there to avoid.

Why no event can still use such a row, stored or on its way. A sink stamps every row a batch
finds or adds with the batch's stamp S = max(clock, newest ts of the batch) as `last_used`
(never moved back), holding the row's lock until the batch commits; it uses an id from its
memo without the database only while the memo's oldest stamp is within `REFRESH_S` of the
batch's (`values.REFRESH_S`; older, the memo starts over). So an event e written with row r
has `ts(e) <= S <= last_used(r) + REFRESH_S` — whichever way the sink got r's id.

1. Stored events: one referencing r has `ts >= floor` (floor is the oldest stored), so
   `last_used(r) >= floor - REFRESH_S > horizon`: r is kept. Retention deleted the events
   before the cutoff first, or `floor` is older and says so (a run its deadline stopped).
   One committed after the floor was read is no older than it but for late writers (3.).
2. A batch under way that found r in the database: it holds r's lock from its INSERT … ON
   CONFLICT to its commit. The pruner picks rows `FOR UPDATE SKIP LOCKED` (PostgreSQL) and
   so passes over r (it never waits for a sink, so the two cannot deadlock); a row it locked
   first and deletes makes the batch's INSERT wait for the pruner's commit (one batch of
   deletes) and then add the value again, under a new id. SQLite has one writer at a
   time (`BEGIN IMMEDIATE`): the batch and the prune's batch run one after the other, and
   whichever comes second sees the other's work.
3. A batch that takes r's id from its memo: its stamp S is within `REFRESH_S` of r's
   `last_used`, so deleting r needs `S - REFRESH_S <= last_used(r) < horizon <= cutoff -
   REFRESH_S - GRACE_S`, i.e. the writing gateway's clock more than `GRACE_S` plus the
   retention (at least an hour) behind the pruner's. `GRACE_S` (a day) is the margin for
   clocks apart and for events written long after their `ts`: the writer holds an event for
   seconds (its retries: 3.6 s), a gateway a day late is broken in louder ways.

A row without `last_used` (NULL: added by a gateway older than `events_prune_0001` during an
upgrade) is stamped with the pruner's clock the first time it is seen, and pruned a retention
later. Such a gateway's memo never starts over: upgrade every gateway within the retention.

On a dry run the floor is the oldest event the run would keep (counted, not deleted): the
count is what a run would delete, or fewer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampway.events import partitions as parts
from rampway.events.tables import event_shapes, event_values, request_events
from rampway.events.values import REFRESH_S
from rampway.store import Store

#: The margin, beyond `REFRESH_S`, between the oldest event kept and a row deleted.
GRACE_S = 86400.0


@dataclass(frozen=True, slots=True)
class Pruned:
    values: int  # `event_values` rows deleted (or, on a dry run, that would be)
    shapes: int  # `event_shapes` rows
    complete: bool  # False when the deadline stopped it first


def horizon(conn: Connection, cutoff: float, *, dry_run: bool = False) -> float:
    """Rows with `last_used` before this are used by no event (see the module docstring).

    `dry_run`: the events before the cutoff are still there but would be deleted, so the
    oldest kept is looked for from the cutoff (on PostgreSQL from its day, which retention
    keeps whole)."""
    ts = request_events.c.ts
    query = sa.select(sa.func.min(ts))
    if dry_run:
        query = query.where(ts >= (parts.day_start(cutoff) if parts.is_partitioned(conn)
                                   else cutoff))
    oldest = conn.scalar(query)
    floor = cutoff if oldest is None else min(cutoff, float(oldest))
    return floor - REFRESH_S - GRACE_S


def prune_unused(
    store: Store,
    cutoff: float,
    *,
    batch: int = 50_000,
    dry_run: bool = False,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
) -> Pruned:
    """Delete the values and shapes no event can use once the events before `cutoff` are
    gone, `batch` rows per transaction; `deadline` (a `clock()` value) stops between batches.
    `dry_run` counts instead."""
    with store.reading() as conn:
        line = horizon(conn, cutoff, dry_run=dry_run)
        if dry_run:
            return Pruned(_count(conn, event_values, line), _count(conn, event_shapes, line), True)
    counts = []
    complete = True
    for table in (event_values, event_shapes):
        with store.transaction() as conn:
            _stamp_unstamped(conn, table, now())
        deleted, done = (0, False) if not complete else _delete_batches(
            store, table, line, batch, deadline, clock)
        counts.append(deleted)
        complete = complete and done
    return Pruned(counts[0], counts[1], complete)


def _stamp_unstamped(conn: Connection, table: sa.Table, now: float) -> None:
    """Rows from gateways older than `last_used` (NULL): first seen now. Passing over the rows
    a sink's batch holds (it is stamping them itself), so that the pruner never waits for a
    sink that may be waiting for it (a deadlock on PostgreSQL)."""
    chosen = (sa.select(table.c.id).where(table.c.last_used.is_(None))
              .with_for_update(skip_locked=True))
    conn.execute(table.update().where(table.c.id.in_(chosen.scalar_subquery()))
                 .values(last_used=now))


def _count(conn: Connection, table: sa.Table, line: float) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(table)
                           .where(table.c.last_used < line)) or 0)


def delete_batch(conn: Connection, table: sa.Table, line: float, batch: int) -> int:
    """Delete up to `batch` rows of `table` last used before `line`, in `conn`'s transaction;
    how many. PostgreSQL: rows a sink's batch holds locked are passed over (it is using them)."""
    chosen = (sa.select(table.c.id).where(table.c.last_used < line).limit(batch)
              .with_for_update(skip_locked=True))
    return int(conn.execute(table.delete().where(
        table.c.id.in_(chosen.scalar_subquery()), table.c.last_used < line)).rowcount)


def _delete_batches(
    store: Store, table: sa.Table, line: float, batch: int,
    deadline: float | None, clock: Callable[[], float],
) -> tuple[int, bool]:
    """Like the events' (`retention._delete_batches`): at least one batch, so that a run whose
    events took the whole budget still finishes once there is little left."""
    total = 0
    while True:
        with store.transaction() as conn:
            deleted = delete_batch(conn, table, line, batch)
        total += deleted
        if deleted < batch:
            return total, True
        if deadline is not None and clock() >= deadline:
            return total, False


__all__ = ["GRACE_S", "Pruned", "delete_batch", "horizon", "prune_unused"]
