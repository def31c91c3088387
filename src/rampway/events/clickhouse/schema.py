"""The ClickHouse tables of the event log and their versioned migrations.

The columns are derived from the SQLAlchemy tables of `rampway.events.tables` — same names,
same nullability — so the analysis' SQLAlchemy queries compile for ClickHouse unchanged
(`rampway.events.clickhouse.sql`) and a row means the same thing in both stores:

    request_events   MergeTree, PARTITION BY day of `ts`, ORDER BY (feature, ts): an analysis
                     reads one feature's window, so it scans that feature's parts of the window's
                     days only. Dimensions (feature, release, arm, provider, model, status …) are
                     LowCardinality: stored once per part as a dictionary, 1–2 bytes a row.
    feedback_events  the same, ORDER BY (name, ts).

`ts` stays epoch seconds (Float64) as in the SQL tables; partitions and the TTL read it as a
DateTime. Retention (`gateway.events.retention`) is the tables' TTL: ClickHouse drops a day's
part once all of its rows are past it (`ttl_only_drop_parts`), instead of deleting rows.

Migrations are a list of (version, statements) applied in order and recorded in
`rampway_migrations`; a new column is a new entry at the end, never an edit of an old one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text

from rampway.events.tables import feedback_events, request_event_fields
from rampway.store.schema import is_json

log = logging.getLogger("rampway.events")

MIGRATIONS_TABLE = "rampway_migrations"
#: Columns with few distinct values: dictionary-encoded per part.
_LOW_CARDINALITY = frozenset({
    "feature", "release_id", "arm", "source", "protocol", "provider", "model", "status",
    "error_code", "finish_reason", "served_model", "system_fingerprint", "name",
})


def column_type(column: Column[object]) -> str:
    """The ClickHouse type of one event column (its SQLAlchemy type and nullability)."""
    sa_type = column.type
    if isinstance(sa_type, Boolean):
        base = "Bool"
    elif isinstance(sa_type, Float):
        base = "Float64"
    elif isinstance(sa_type, Integer):
        base = "Int64"
    elif is_json(sa_type) or isinstance(sa_type, String | Text):  # JSON: `json.dumps`'s text
        base = "String"
    else:
        raise TypeError(f"no ClickHouse type for {column.name}: {sa_type!r}")
    if column.nullable and not column.primary_key:
        base = f"Nullable({base})"
    if column.name in _LOW_CARDINALITY:
        base = f"LowCardinality({base})"
    return base


def _create(table: Table, order_by: str) -> str:
    columns = ",\n  ".join(f"{c.name} {column_type(c)}" for c in table.columns)
    return (f"CREATE TABLE IF NOT EXISTS {table.name} (\n  {columns}\n)\n"
            f"ENGINE = MergeTree\nPARTITION BY toYYYYMMDD(toDateTime(toUInt32(ts)))\n"
            f"ORDER BY {order_by}\nSETTINGS ttl_only_drop_parts = 1")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    what: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the event tables", (
        _create(request_event_fields, "(feature, ts)"),
        _create(feedback_events, "(name, ts)"),
    )),
)

EVENT_TABLES = (request_event_fields.name, feedback_events.name)


def migrate(
    command: Callable[[str], None],
    versions: Callable[[], Sequence[int]],
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Apply the migrations not yet recorded, in order; the versions applied.

    A migration's statements are idempotent (`IF NOT EXISTS`), so one interrupted between
    its statements and its record is simply applied again. Two processes migrating at once
    both do, harmlessly, for the same reason.
    """
    command(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version UInt32, what String, "
            "applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version")
    done = set(versions())
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements:
            command(statement)
        command(f"INSERT INTO {MIGRATIONS_TABLE} (version, what) VALUES "
                f"({migration.version:d}, {quote(migration.what)})")
        log.info("events store: applied migration %d (%s)", migration.version, migration.what)
        applied.append(migration.version)
    return applied


def ttl_clause(retention_s: float | None) -> str | None:
    """The tables' TTL for a retention in seconds (None: keep forever)."""
    if retention_s is None:
        return None
    return f"toDateTime(toUInt32(ts)) + toIntervalSecond({int(retention_s):d})"


def ttl_statements(table: str, current: str, retention_s: float | None) -> list[str]:
    """What makes `table`'s TTL the retention's, given its `engine_full` (`system.tables`):
    nothing when it already is. `materialize_ttl_after_modify = 0`: old parts are dropped by
    the next merge or TTL pass, not rewritten at once."""
    wanted = ttl_clause(retention_s)
    has_ttl = " TTL " in f" {current} "
    if wanted is None:
        return [f"ALTER TABLE {table} REMOVE TTL"] if has_ttl else []
    if has_ttl and f"toIntervalSecond({int(retention_s or 0):d})" in current:
        return []
    return [f"ALTER TABLE {table} MODIFY TTL {wanted} "
            "SETTINGS materialize_ttl_after_modify = 0"]


#: Inserts a plain MergeTree event table remembers, to skip a batch repeated with the same
#: deduplication token (`sink.batch_token`): a writer retries within seconds, so the last
#: thousand batches cover every retry (Replicated tables have their own window, on by default).
DEDUP_WINDOW = 1000


def dedup_statements(table: str, engine: str, engine_full: str) -> list[str]:
    """What makes a plain MergeTree `table` deduplicate retried batches (`system.tables`'
    `engine`, `engine_full`): nothing for other engines (a user's Replicated or Distributed
    tables) or when it already does."""
    if engine != "MergeTree" or "non_replicated_deduplication_window" in engine_full:
        return []
    return [f"ALTER TABLE {table} MODIFY SETTING "
            f"non_replicated_deduplication_window = {DEDUP_WINDOW:d}"]


def quote(value: str) -> str:
    """A ClickHouse string literal (backslash escapes, unlike standard SQL's doubled quote)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


__all__ = ["DEDUP_WINDOW", "EVENT_TABLES", "MIGRATIONS", "MIGRATIONS_TABLE", "Migration",
           "column_type", "dedup_statements", "migrate", "quote", "ttl_clause", "ttl_statements"]
