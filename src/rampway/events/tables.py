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
    String,
    Table,
    Text,
    false,
)

from rampway.store.schema import JSONType, metadata

request_events = Table(
    "request_events",
    metadata,
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
    Index("ix_request_events_feature_ts", "feature", "ts"),
    Index("ix_request_events_release_ts", "release_id", "ts"),
    Index("ix_request_events_unit", "unit_hash"),
    Index("ix_request_events_ts", "ts"),  # retention's `ts < cutoff` batches (events_0006)
    Index("ix_request_events_session", "session_hash"),
)

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


__all__ = ["app_keys", "feedback_events", "health_minutes", "request_events", "unit_column"]
