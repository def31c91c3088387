"""Event retention: delete request and feedback events older than a cutoff, a batch at a time.

    gateway:
      events:
        retention: 30d        # default 90d; null or `forever` keeps every event

    result = prune(store, time.time() - 30 * 86400)          # PruneResult(requests, feedback, …)
    rampway events prune --older-than 30d --dry-run          # the same from the CLI

At 2,500 requests/s the event log grows by 150–480 GB a day, so something has to delete it.
`prune` deletes in bounded transactions — a batch of primary keys picked by `ts`, then
`DELETE … WHERE id IN (those)` — so one prune never holds a long lock or a huge transaction on
PostgreSQL, nor SQLite's write lock for more than one batch: the gateways' event writes go on
between batches. The overview's health roll-up (`rampway.events.health`) loses its whole minutes
before the same cutoff.

Events an analysis still reads are never deleted: the effective cutoff is the earliest of the
requested cutoff and the start of every active rollout (its `created_at`, which is before any
of its steps) and every running experiment (its `started_at`). A 30-day retention therefore
never cuts into a 45-day experiment.

Then the attribute and flag values (`event_values`) and the shapes (`event_shapes`) that no event
can use any more go too, a batch at a time (`rampway.events.dimensions`, which says why a
gateway writing at that moment never references one it deleted).

A prune also deletes the judge's roll-up rows of finished rollout steps (whatever their age:
nothing reads them once their step is over; `rampway.rollout.segments.prune_finished`, which
the controller's looks run too, a few seconds' worth at a time), and the experiments' roll-up
rows of experiments a newer one on their feature replaced (`rampway.experiments.rollup`).

In a fleet the rollout controller that holds the fleet lease applies the retention, at most
once an hour (`RetentionJob`, called from `Controller.look`, so it runs in whichever process
looks: a gateway's `RolloutLoop`, `serve --workers N`'s supervisor or `rampway controller`).

On PostgreSQL the event tables are partitioned by UTC day (`rampway.events.partitions`): a day
whose end is at or before the cutoff is dropped whole (12 ms of DROP TABLE for a day of 1M
request rows, where deleting them took 30-60 s plus 15-23 s of VACUUM: `bench/partitions.py`),
and the day the cutoff falls in is kept whole until it is entirely older, so `retention: 30d`
keeps 30 to 31 days there. The rows of the partitions that are not one day (the legacy one,
what the table held when it was partitioned, and the DEFAULT one) are deleted in batches as
above. The same job keeps `AHEAD_DAYS` of partitions created ahead, with or without a retention.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from rampway.errors import StoreError
from rampway.events import partitions as parts
from rampway.events.dimensions import prune_unused
from rampway.events.health import prune_rollup
from rampway.events.tables import feedback_events, request_events
from rampway.rollout.plan import parse_duration
from rampway.store import Store

log = logging.getLogger("rampway.events")

DAY = 86400.0
#: Without the setting nothing is deleted (an upgraded project keeps every event until its
#: rampway.yaml says otherwise); `rampway init` writes `retention: 90d` into a new project.
DEFAULT_RETENTION_S: float | None = None
#: A shorter retention is almost surely a typo (`retention: 30` is 30 seconds, not 30 days).
MIN_RETENTION_S = 3600.0
DEFAULT_BATCH = 50_000
_FOREVER = {"forever", "never"}


def parse_retention(value: Any) -> float | None:
    """Seconds to keep events, or None to keep them forever (`null`, `forever`).

    >>> parse_retention("30d"), parse_retention(None), parse_retention("forever")
    (2592000.0, None, None)
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _FOREVER):
        return None
    seconds = parse_duration(value)
    if seconds < MIN_RETENTION_S:
        raise ValueError(f"a retention of {value!r} is shorter than 1h; give e.g. 30d, "
                         "or null / forever to keep every event")
    return seconds


@dataclass(frozen=True, slots=True)
class Protection:
    """A window an analysis still reads: events from `since` on must stay."""

    since: float
    what: str  # "rollout support-bot#3", "experiment tone#2"


@dataclass(frozen=True, slots=True)
class PruneResult:
    requests: int  # request events deleted (or, on a dry run, that would be)
    feedback: int
    cutoff: float  # the effective cutoff: events with ts < cutoff
    requested_cutoff: float
    held_by: str | None  # the rollout / experiment that held the cutoff back, if any
    dry_run: bool
    complete: bool  # False when `deadline` stopped it before every old row was gone
    rollup: int = 0  # roll-up rows of finished rollout steps deleted (`rollout.segments`)
    #: PostgreSQL: the partitions dropped whole (on a dry run, that would be); their rows are
    #: not in `requests` / `feedback`, which count the rows deleted one by one
    dropped: tuple[parts.Partition, ...] = ()
    values: int = 0  # `event_values` rows no event uses any more, deleted (`events.dimensions`)
    shapes: int = 0  # `event_shapes` rows, likewise

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "feedback": self.feedback, "rollup": self.rollup,
            "values": self.values, "shapes": self.shapes,
            "cutoff": _iso(self.cutoff), "requested_cutoff": _iso(self.requested_cutoff),
            "held_by": self.held_by, "dry_run": self.dry_run, "complete": self.complete,
            "partitions": [_partition_json(p) for p in self.dropped],
        }


def _partition_json(p: parts.Partition) -> dict[str, Any]:
    return {"table": p.table, "name": p.name,
            "from": None if p.start is None else _iso(p.start),
            "to": None if p.end is None else _iso(p.end), "rows_estimate": p.rows_estimate}


def effective_cutoff(cutoff: float, protections: Iterable[Protection]) -> tuple[float, str | None]:
    """The cutoff moved back to the earliest protected window start, and what moved it.

    >>> effective_cutoff(100.0, [Protection(40.0, "rollout a#1"), Protection(70.0, "x")])
    (40.0, 'rollout a#1')
    """
    earliest = min(protections, key=lambda p: p.since, default=None)
    if earliest is None or earliest.since >= cutoff:
        return cutoff, None
    return earliest.since, earliest.what


def protections(store: Store) -> list[Protection]:
    """The windows of every active rollout and every running experiment."""
    # Imported here: experiments and rollouts build on the event log, not the other way round.
    from rampway.experiments import repo as experiments
    from rampway.rollout import repo as rollouts

    found = [Protection(r.created_at.timestamp(), f"rollout {r.ref}")
             for r in rollouts.list_active(store)]
    found += [Protection(e.started_at, f"experiment {e.name}#{e.id}")
              for e in experiments.list_running(store)]
    return found


def prune(
    store: Store,
    older_than_ts: float,
    *,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PruneResult:
    """Delete request and feedback events with `ts < older_than_ts`, `batch` rows per
    transaction, never inside an active rollout's or running experiment's window (the cutoff
    moves back to the earliest such start: see the module docstring). On PostgreSQL whole days
    before the cutoff are dropped instead. Then the values and shapes no event uses any more
    are deleted (`rampway.events.dimensions`). `dry_run` counts instead.
    `deadline` (a `clock()` value) stops between batches; `complete` says whether it did."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    cutoff, held_by = effective_cutoff(older_than_ts, protections(store))
    counts: list[int] = []
    dropped: list[parts.Partition] = []
    complete = True
    for table in (request_events, feedback_events):
        whole, by_row = _plan(store, table, cutoff)
        if dry_run:
            dropped += whole
            counts.append(sum(_count(store, t, cutoff) for t in by_row))
            continue
        gone, done = _drop(store, whole, deadline, clock)
        dropped += gone
        deleted = 0
        for rows in by_row if done else ():
            n, done = _delete_batches(store, rows, cutoff, batch, deadline, clock)
            deleted += n
            if not done:
                break
        counts.append(deleted)
        complete = complete and done
    # after the events: the oldest one left decides which values and shapes no event uses
    unused = prune_unused(store, cutoff, batch=batch, dry_run=dry_run, deadline=deadline,
                          clock=clock)
    complete = complete and unused.complete
    rollup = 0
    if not dry_run:
        prune_rollup(store, cutoff)  # the health roll-up's minutes before the cutoff
        from rampway.rollout.segments import prune_finished

        rollup, done = prune_finished(store, batch=batch, deadline=deadline, clock=clock)
        complete = complete and done
        if done:  # the experiments' rows of those replaced by a newer experiment
            from rampway.experiments.rollup import prune_finished as prune_experiments

            units, done = prune_experiments(store, batch=batch, deadline=deadline, clock=clock)
            rollup += units
            complete = complete and done
    return PruneResult(requests=counts[0], feedback=counts[1], cutoff=cutoff,
                       requested_cutoff=older_than_ts, held_by=held_by, dry_run=dry_run,
                       complete=complete, rollup=rollup, dropped=tuple(dropped),
                       values=unused.values, shapes=unused.shapes)


def _plan(
    store: Store, table: sa.Table, cutoff: float,
) -> tuple[list[parts.Partition], list[sa.Table]]:
    """The partitions of `table` to drop whole, and the tables to delete old rows from: on
    PostgreSQL the days entirely before `cutoff`, then the legacy and DEFAULT partitions (a
    day the cutoff falls in is kept whole); elsewhere nothing, then `table` itself."""
    with store.reading() as conn:
        if not parts.is_partitioned(conn):
            return [], [table]
        found = parts.partitions(conn, table.name)
    whole = [p for p in found if p.older_than(cutoff)]
    by_row = [parts.rows_table(p) for p in found
              if not p.daily and not p.older_than(cutoff) and (p.start is None or p.start < cutoff)]
    return whole, by_row


def _drop(
    store: Store, whole: list[parts.Partition], deadline: float | None,
    clock: Callable[[], float],
) -> tuple[list[parts.Partition], bool]:
    """Drop these partitions, oldest first, one transaction each; (those dropped, whether all
    were). A drop that waited too long for its lock stops here, to be retried next run."""
    gone: list[parts.Partition] = []
    for partition in whole:
        if deadline is not None and clock() >= deadline:
            return gone, False
        try:
            with store.transaction() as conn:
                parts.drop(conn, partition)
        except StoreError as exc:
            if not _lock_timeout(exc):
                raise
            log.warning("event retention: %s is in use, dropping it at the next run",
                        partition.name)
            return gone, False
        gone.append(partition)
        log.info("event retention: dropped partition %s", partition.name)
    return gone, True


def _lock_timeout(exc: BaseException) -> bool:
    """Whether a store error is PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, sa_exc.DBAPIError):
            return getattr(cause.orig, "sqlstate", None) == "55P03"
        cause = cause.__cause__
    return False


def _count(store: Store, table: sa.Table, cutoff: float) -> int:
    with store.reading() as conn:
        return int(conn.scalar(
            sa.select(sa.func.count()).select_from(table).where(table.c.ts < cutoff)
        ) or 0)


def _delete_batches(
    store: Store, table: sa.Table, cutoff: float, batch: int,
    deadline: float | None, clock: Callable[[], float],
) -> tuple[int, bool]:
    """Delete in transactions of at most `batch` rows; (rows deleted, whether all are gone)."""
    chosen = sa.select(table.c.id).where(table.c.ts < cutoff).limit(batch)
    statement = table.delete().where(table.c.id.in_(chosen))
    total = 0
    while True:
        with store.transaction() as conn:
            deleted = int(conn.execute(statement).rowcount)
        total += deleted
        if deleted < batch:
            return total, True
        if deadline is not None and clock() >= deadline:
            return total, False


class RetentionJob:
    """Applies the retention at most once an hour; the controller loop calls `maybe_run` after
    each look it made (so only the holder of the fleet lease prunes).

    A run is bounded by `budget` seconds so the controller's looks are not held up for long;
    a run cut short continues at the next look instead of an hour later. On PostgreSQL each run
    first creates the event tables' partitions `AHEAD_DAYS` ahead (`retention_s` None: only
    that, nothing is deleted).
    """

    def __init__(
        self, store: Store, retention_s: float | None, *, every: float = 3600.0,
        budget: float = 60.0, batch: int = DEFAULT_BATCH,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.retention_s = retention_s
        self.every = every
        self.budget = budget
        self.batch = batch
        self._clock = clock
        self._monotonic = monotonic
        self._due = monotonic()  # the first look prunes
        self.runs = 0

    def maybe_run(self) -> PruneResult | None:
        """Prune if due (None if not, or when there is no retention). The next run is due in
        `every` seconds even when this one fails, so a broken database is not hammered once a
        minute."""
        start = self._monotonic()
        if start < self._due:
            return None
        self._due = start + self.every
        self.ensure_partitions()
        if self.retention_s is None:
            self.runs += 1
            return None
        result = prune(self.store, self._clock() - self.retention_s, batch=self.batch,
                       deadline=start + self.budget, clock=self._monotonic)
        self.runs += 1
        if not result.complete:
            self._due = start  # more to delete: carry on at the next look
        if result.requests or result.feedback or result.dropped:
            log.info("event retention: deleted %d request and %d feedback events and dropped "
                     "%d partitions before %s%s", result.requests, result.feedback,
                     len(result.dropped), _iso(result.cutoff),
                     f" (held back by {result.held_by})" if result.held_by else "")
        if result.values or result.shapes:
            log.info("event retention: deleted %d values and %d shapes no event uses any more",
                     result.values, result.shapes)
        return result

    def ensure_partitions(self) -> list[str]:
        """PostgreSQL: create the missing day partitions up to `AHEAD_DAYS` ahead; their names."""
        with self.store.reading() as conn:
            if not parts.is_partitioned(conn):
                return []
        try:
            with self.store.transaction() as conn:
                created = parts.ensure_ahead(conn, self._clock())
        except StoreError as exc:
            if not _lock_timeout(exc):
                raise
            log.warning("event tables: partitions not created ahead, a table is in use; "
                        "retrying at the next run")
            return []
        if created:
            log.info("event tables: created partitions %s", ", ".join(created))
        return created


def job_for(store: Store, retention_s: float | None) -> RetentionJob | None:
    """The job for a `gateway.events.retention` setting; None when events are kept forever
    (except on PostgreSQL, whose partitions the job creates ahead all the same)."""
    if retention_s is None and store.engine.dialect.name != "postgresql":
        return None
    return RetentionJob(store, retention_s)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


__all__ = [
    "DEFAULT_RETENTION_S",
    "Protection",
    "PruneResult",
    "RetentionJob",
    "effective_cutoff",
    "job_for",
    "parse_retention",
    "protections",
    "prune",
]
