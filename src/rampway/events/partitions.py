"""Daily partitions of the event tables on PostgreSQL (SQLite keeps one plain table each).

Each event table is range-partitioned by `ts` (epoch seconds, UTC days):

    request_events              the partitioned parent every query and COPY goes through
      request_events_legacy     FROM (MINVALUE) TO (<first day>): what the table held when
                                `events_0009` partitioned it (empty on a new store)
      request_events_p20261207  one UTC day, [00:00, 24:00)
      request_events_default    DEFAULT: rows no other partition takes

Why days: retention is set in days (`30d`, `90d`), analysis windows span hours to weeks, and at
2,500 requests/s a day is ~216M rows — a partition small enough to drop, while 30-90 days of
them keep the planner's partition count (and the locks a query over the window takes) in the
tens. Hours would mean 720-2,160 partitions per table for the same retention; weeks would keep
up to 6 days of events past the retention.

Retention drops a whole day once all of it is older than the cutoff (`rampway.events.retention`):
a catalog change, instead of deleting ~216M rows one by one. The legacy and default partitions
are not day-aligned: their old rows are still deleted a batch at a time.

Partitions are created ahead (`AHEAD_DAYS`) by the migration and by whoever runs retention
(the controller's `RetentionJob`, hourly), so an insert never needs one that is missing. Should
a row still find no day (the controller stopped for a week, a clock far ahead), it lands in the
DEFAULT partition: stored and read like any other; moved into its day when that day's
partition is created; deleted a batch at a time once older than the retention.

Ids: PostgreSQL only enforces a unique index that includes the partition key, so no index can
make `id` unique across partitions. Each partition has its own unique index on `id` instead (the
parent has no primary key): a re-sent event (a retried batch whose commit was acknowledged too
late) carries its `ts` too, lands in the same partition and is refused there as before, and so
is an id repeated within a day. Only two different events given the same id on different days
would both be stored; an id is the millisecond it was made and 48 random bits
(`new_request_id`): two are equal only if made in one millisecond, one chance in 2**48.

New partitions are built as plain tables and then attached (`ATTACH PARTITION` takes a SHARE
UPDATE EXCLUSIVE lock on the parent, so inserts and reads go on); a drop needs the parent's
ACCESS EXCLUSIVE lock for an instant and waits at most `LOCK_TIMEOUT` for it, so it never
queues the gateways' inserts behind a long analysis query (it is retried at the next run).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

DAY = 86400.0
#: Days created ahead of today; the controller's hourly run keeps the window full.
AHEAD_DAYS = 7
#: How long a drop waits for the parent's lock before giving up until the next run.
LOCK_TIMEOUT = "2s"
TABLES = ("request_events", "feedback_events")
_ENSURE_LOCK = 0x72616D71  # any constant shared by every rampway process
_MOVE = ("WITH moved AS (DELETE FROM {default} WHERE ts >= :lo AND ts < :hi RETURNING *) "
         "INSERT INTO {day} SELECT * FROM moved")

_BOUND = re.compile(r"FOR VALUES FROM \((?P<lo>[^)]*)\) TO \((?P<hi>[^)]*)\)")
_NAME = re.compile(r"^(request_events|feedback_events)_(legacy|default|p\d{8})$")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of `table`: rows with `start <= ts < end` (None: unbounded / DEFAULT)."""

    table: str
    name: str
    start: float | None
    end: float | None
    default: bool = False
    rows_estimate: int | None = None  # the planner's count (None: never analysed)

    @property
    def daily(self) -> bool:
        return self.start is not None and self.end is not None and not self.default

    def older_than(self, cutoff: float) -> bool:
        """Every row it can hold is before `cutoff` (so it can be dropped whole)."""
        return not self.default and self.end is not None and self.end <= cutoff


def is_partition_name(name: str | None) -> bool:
    """Whether a table name is one of the event tables' partitions (for schema comparisons,
    which know only the parents)."""
    return name is not None and _NAME.match(name) is not None


def include_name(name: str | None, type_: str, _parents: object = None) -> bool:
    """Alembic's `include_name` hook: leave the partitions out of schema comparisons (the
    declared metadata knows the parent tables only)."""
    return not (type_ == "table" and is_partition_name(name))


def day_start(ts: float) -> float:
    """The UTC midnight at or before `ts`.

    >>> day_start(86400 * 3 + 5)
    259200.0
    """
    return math.floor(ts / DAY) * DAY


def day_name(table: str, start: float) -> str:
    """`request_events_p20261207` for the day starting at `start`."""
    return f"{table}_p{datetime.fromtimestamp(start, UTC):%Y%m%d}"


def is_partitioned(conn: Connection) -> bool:
    """Whether this store's event tables are partitioned (PostgreSQL after `events_0009`)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.scalar(sa.text(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('request_events')"))
    return bool(kind == "p")


def partitions(conn: Connection, table: str) -> list[Partition]:
    """`table`'s partitions, oldest first (the DEFAULT one last)."""
    rows = conn.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": table}).all()
    found = [_partition(table, str(name), str(bound), float(tuples))
             for name, bound, tuples in rows]
    return sorted(found, key=lambda p: (p.default, -math.inf if p.start is None else p.start))


def _partition(table: str, name: str, bound: str, tuples: float) -> Partition:
    estimate = None if tuples < 0 else int(tuples)
    if bound.strip() == "DEFAULT":
        return Partition(table, name, None, None, default=True, rows_estimate=estimate)
    match = _BOUND.search(bound)
    if match is None:
        raise ValueError(f"unexpected partition bound of {name}: {bound}")
    return Partition(table, name, _value(match["lo"]), _value(match["hi"]),
                     rows_estimate=estimate)


def _value(text: str) -> float | None:
    text = text.strip()
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    return float(text.split("::")[0].strip("'"))


def ensure_ahead(conn: Connection, now: float, days: int = AHEAD_DAYS) -> list[str]:
    """Create the missing day partitions from today to `days` ahead, in every event table;
    the names created. Rows already in the DEFAULT partition for such a day move into it.

    One process at a time (an advisory lock); waits at most `LOCK_TIMEOUT` for a table's lock
    (a `sqlalchemy.exc.OperationalError` then: the next run creates them, days ahead)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ENSURE_LOCK})
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    created = []
    first = day_start(now)
    for table in TABLES:
        existing = partitions(conn, table)
        for i in range(days + 1):
            start = first + i * DAY
            if not any(_overlaps(p, start, start + DAY) for p in existing):
                created.append(create_day(conn, table, start, existing))
    return created


def _overlaps(p: Partition, start: float, end: float) -> bool:
    if p.default:
        return False
    return (p.start is None or p.start < end) and (p.end is None or start < p.end)


def create_day(conn: Connection, table: str, start: float,
               existing: list[Partition] | None = None) -> str:
    """Create and attach the partition for the UTC day from `start`; its name.

    Built as a plain table first, with its unique index on `id`, then filled with the DEFAULT
    partition's rows of that day (attaching would otherwise fail on them), then attached."""
    name = day_name(table, start)
    end = start + DAY
    q = conn.dialect.identifier_preparer.quote
    conn.execute(sa.text(f"CREATE TABLE {q(name)} (LIKE {q(table)} INCLUDING DEFAULTS)"))
    conn.execute(sa.text(f"CREATE UNIQUE INDEX {q(name + '_id_key')} ON {q(name)} (id)"))
    default = next((p for p in existing or partitions(conn, table) if p.default), None)
    if default is not None:
        # names from the catalog and `day_name`, quoted; the values are bound
        conn.execute(sa.text(_MOVE.format(default=q(default.name), day=q(name))),
                     {"lo": start, "hi": end})
    conn.execute(sa.text(f"ALTER TABLE {q(table)} ATTACH PARTITION {q(name)} "
                         f"FOR VALUES FROM ({start!r}) TO ({end!r})"))
    return name


def drop(conn: Connection, partition: Partition) -> None:
    """Drop one partition, waiting at most `LOCK_TIMEOUT` for the parent's lock (a
    `sqlalchemy.exc.OperationalError` then: retry later)."""
    q = conn.dialect.identifier_preparer.quote
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(sa.text(f"DROP TABLE {q(partition.name)}"))


def rows_table(partition: Partition) -> sa.Table:
    """A Core handle on one partition's `id` and `ts` (to delete its old rows directly)."""
    return sa.Table(partition.name, sa.MetaData(), sa.Column("id", sa.String(64)),
                    sa.Column("ts", sa.Float))


__all__ = [
    "AHEAD_DAYS",
    "Partition",
    "create_day",
    "day_start",
    "drop",
    "ensure_ahead",
    "include_name",
    "is_partition_name",
    "is_partitioned",
    "partitions",
    "rows_table",
]
