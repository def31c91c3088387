"""Event-log and app-key tables, on the store's shared SQLAlchemy metadata.

The Alembic revision `events_0001` creates exactly these and `events_0002` adds
`request_events.flags` (the flags evaluated for the request, see `rampway.events.model`; NULL
on rows written before it and for requests whose feature has no flags); `events_0003` adds
`served_model` and `system_fingerprint` (what the provider says answered, for drift detection;
NULL on older rows, errors and locally answered calls); `events_0004` adds `hedged` (a second
request went to the next target, `gateway.routing.hedge_after`); `events_0005` adds
`tool_calls` (the answer's tool calls, which a shadow comparison reads), `events_0006` the
index on `ts` and `events_0007` `session_hash` on both event tables (the session unit beside
the user unit `unit_hash`; `unit_column` picks the one an analysis groups by); keep them in
step.
`events_0010` stores the attributes and flags once each in `event_values` and keeps their ids
in the rows, `events_0011` the descriptive columns (SHAPE_FIELDS) once per combination in
`event_shapes` (`request_event_rows` reads both back joined); `events_prune_0001` adds their
`last_used`, by which retention deletes the rows no event uses any more.
`health_minutes` (`events_0008`) is the overview's per-minute roll-up of the request log, kept
by the sink (`rampway.events.health`).
Times are stored as epoch seconds (float) so that range scans and bucketing are the same cheap
numeric comparison on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    FromClause,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Subquery,
    Table,
    Text,
    false,
    select,
)
from sqlalchemy.engine import Connection

from rampway.store.schema import JSONType, metadata, releases

# The request event as written and as read: `RequestEvent`'s fields. Its own metadata: this is
# the shape, not a table of the store. ClickHouse stores exactly this (`events.clickhouse`), and
# `request_event_rows` gives it back from the store's compact table below.
request_event_fields = Table(
    "request_events",
    MetaData(),
    Column("id", String(64), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("feature", String(200), nullable=False),
    Column("release_id", String(200)),
    Column("arm", String(100)),
    Column("unit_hash", String(64)),
    Column("attributes", JSONType),
    Column("source", String(16), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("provider", String(100)),
    Column("model", String(200)),
    Column("attempts", Integer, nullable=False),
    Column("fallback_used", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("error_code", String(64)),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("refusal", Boolean, nullable=False),
    Column("finish_reason", String(32)),
    Column("output_chars", Integer, nullable=False),
    Column("prompt_text", Text),
    Column("response_text", Text),
    Column("flags", JSONType),
    Column("served_model", String(200)),
    Column("system_fingerprint", String(100)),
    Column("hedged", Boolean, nullable=False, server_default=false()),
    Column("tool_calls", JSONType),
    Column("session_hash", String(64)),
)

#: The JSON fields stored once in `event_values` and referenced by id (`<field>_id`).
VALUE_FIELDS = ("attributes", "flags")

#: Descriptive columns no analysis filters or groups by: where the request came from and what
#: answered it. They repeat (a few models, fingerprints, finish reasons per release) and were
#: ~76 of a PostgreSQL row's 340 heap bytes (bench/event_size.py), so each distinct combination
#: is stored once in `event_shapes` and a request row keeps its 4-byte `shape_id` (`events_0011`).
SHAPE_FIELDS = ("source", "protocol", "provider", "model", "served_model", "system_fingerprint",
                "finish_reason", "error_code")

# Distinct JSON values of the request log (`events_0010`): a request's attributes and flag
# evaluations repeat across requests (a few plans and regions, one outcome per flag rule), so
# each distinct value is stored once here and a request row holds its 4-byte id. `digest` is
# the SHA-256 (32 hex digits) of the value's JSON text as the sink encodes it, the key the sink
# finds or adds a value by: one row per distinct value, not per request (rampway.events.values).
# `last_used` (`events_prune_0001`, epoch seconds; NULL: written by a sink older than it) is
# when a sink last found or added the row; retention deletes the rows no event can still use
# by it (rampway.events.dimensions).
event_values = Table(
    "event_values",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(32), nullable=False, unique=True),
    Column("value", JSONType, nullable=False),
    Column("last_used", Float),
    Index("ix_event_values_last_used", "last_used"),
)

# Distinct combinations of a request's SHAPE_FIELDS (`events_0011`), found or added by the sink
# like `event_values` (rampway.events.values): `digest` is the SHA-256 (32 hex digits) of the
# combination's JSON list. One row per combination, not per request; `last_used` as above.
event_shapes = Table(
    "event_shapes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(32), nullable=False, unique=True),
    *(request_event_fields.c[name]._copy() for name in SHAPE_FIELDS),
    Column("last_used", Float),
    Index("ix_event_shapes_last_used", "last_used"),
)


def _stored_columns() -> list[Column[Any]]:
    """`request_event_fields`' columns as stored: each VALUE_FIELDS column replaced by the id of
    its value (NULL for an absent value), the SHAPE_FIELDS by one `shape_id` where the first
    of them was."""
    columns: list[Column[Any]] = []
    for c in request_event_fields.columns:
        if c.name in VALUE_FIELDS:
            columns.append(Column(f"{c.name}_id", Integer))
        elif c.name == SHAPE_FIELDS[0]:
            columns.append(Column("shape_id", Integer))
        elif c.name not in SHAPE_FIELDS:
            columns.append(c._copy())
    return columns


# The stored request log (see `_stored_columns`); `request_event_rows` reads it back whole.
request_events = Table(
    "request_events",
    metadata,
    *_stored_columns(),
    # Only the indexes a query needs: each costs every insert and ~20-70 bytes a row.
    # `events_0012` dropped (release_id, ts), (unit_hash) and (session_hash): units are grouped
    # by, never looked up here, and release filters name the release's feature too.
    # every analysis: a feature's time window
    Index("ix_request_events_feature_ts", "feature", "ts"),
    # the requests page's newest rows; retention's `ts < cutoff` batches (events_0006)
    Index("ix_request_events_ts", "ts"),
)


def _joined_rows() -> Subquery:
    """Every column of `request_event_fields`, read from the stored table with the values and
    the shape joined back (each an outer join on its id: a row whose value is absent is kept)."""
    shape = event_shapes.alias("shape")
    source: FromClause = request_events.outerjoin(
        shape, shape.c.id == request_events.c.shape_id)
    columns: list[ColumnElement[Any]] = []
    for c in request_event_fields.columns:
        if c.name in VALUE_FIELDS:
            value = event_values.alias(f"{c.name}_value")
            source = source.outerjoin(value, value.c.id == request_events.c[f"{c.name}_id"])
            columns.append(value.c.value.label(c.name))
        elif c.name in SHAPE_FIELDS:
            columns.append(shape.c[c.name])
        else:
            columns.append(request_events.c[c.name])
    return select(*columns).select_from(source).subquery("request_event_rows")


#: Read whole request events through this (`select(request_event_rows)`, `.c.flags`): the
#: stored rows with their attribute and flag values and their shape, as they were written.
#: Analyses that filter and aggregate the other columns read `request_events` itself.
request_event_rows = _joined_rows()

feedback_events = Table(
    "feedback_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("name", String(200), nullable=False),
    Column("value", Float, nullable=False),
    Column("request_id", String(64)),
    Column("unit_hash", String(64)),
    Column("feature", String(200)),
    Column("attributes", JSONType),
    Column("session_hash", String(64)),
    Index("ix_feedback_events_request", "request_id"),
    Index("ix_feedback_events_unit", "unit_hash"),
    Index("ix_feedback_events_session", "session_hash"),
    Index("ix_feedback_events_name_ts", "name", "ts"),
)

app_keys = Table(
    "app_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("features", JSONType),  # null = every feature
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

# The health roll-up (rampway.events.health): per (feature, epoch minute, release) the counts,
# the cost and the latency histogram ((bucket, count) uint32 pairs). `release_id` is '' for
# requests without a release (a primary key column cannot be NULL).
health_minutes = Table(
    "health_minutes",
    metadata,
    Column("feature", String(200), primary_key=True),
    Column("minute", Integer, primary_key=True),
    Column("release_id", String(200), primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("fallbacks", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency", LargeBinary, nullable=False),
    Index("ix_health_minutes_minute", "minute"),  # retention's `minute < cutoff`
)


def unit_column(table: FromClause, unit: str) -> ColumnElement[Any]:
    """The column an analysis by `unit` ("user" or "session") groups `table`'s rows by (either
    event table, or an alias of one)."""
    return table.c.session_hash if unit == "session" else table.c.unit_hash


#: How long before its release was published a request may still carry its id (gateway clocks
#: differ; events are imported): `release_floor`'s margin.
RELEASE_CLOCK_MARGIN_S = 86_400.0


def release_floor(conn: Connection, release_id: str) -> float:
    """No request of `release_id` is older than this (its publication less a day's margin), or
    0 for a release the store does not hold. A lookup of a release's rows walks the `(feature,
    ts)` index (events_0012 dropped the one on `(release_id, ts)`); this bound stops it at the
    release's start instead of the feature's whole history when the release has few rows."""
    published = conn.execute(
        select(releases.c.created_at).where(releases.c.release_id == release_id)).scalar()
    return 0.0 if published is None else max(0.0, published.timestamp() - RELEASE_CLOCK_MARGIN_S)


__all__ = [
    "RELEASE_CLOCK_MARGIN_S",
    "SHAPE_FIELDS",
    "VALUE_FIELDS",
    "app_keys",
    "event_shapes",
    "event_values",
    "feedback_events",
    "health_minutes",
    "release_floor",
    "request_event_fields",
    "request_event_rows",
    "request_events",
    "unit_column",
]
