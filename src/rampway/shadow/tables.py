"""Shadow tables, on the store's shared metadata (Alembic `shadow_0001`).

`shadows` holds one row per started shadow, kept after it stops (its pairs are read by name):

* `candidates` — the release ids mirrored to, resolved when the shadow started.
* `definition` — the YAML as started (validated, refs as written).
* `active_name` — equal to `name` while running, NULL once stopped, and UNIQUE: the database
  itself refuses a second running shadow of one name. Several shadows may run on a feature,
  beside its rollout or experiment: a shadow splits no traffic.
* `version` — bumped by every change (stop), the admin API's ETag.
* `shed`, `over_budget`, `expired` — requests the serving processes did not mirror (queue
  full, a budget cap reached, past the end time), added up by each process's pair writer;
  `budget_hit_at` — when the daily USD cap was last reached (for `status`).

`shadow_pairs` holds one row per mirrored call: the candidate's (kind `candidate`) or the
primary release asked again (kind `twin`). The primary side is the request's own event row
(`request_events`, joined on `request_id`): never copied here.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from rampway.store.schema import JSONType, UTCDateTime, metadata

shadows = Table(
    "shadows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("feature", String(200), nullable=False),
    Column("active_name", String(64), nullable=True, unique=True),
    Column("status", String(16), nullable=False),
    Column("candidates", JSONType, nullable=False),
    Column("sample_bp", Integer, nullable=False),
    Column("twin_bp", Integer, nullable=False),
    Column("salt", String(300), nullable=False),
    Column("definition", JSONType, nullable=False),
    Column("ends_at", Float, nullable=True),
    Column("version", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("stopped_at", UTCDateTime(), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("stopped_by", String(200), nullable=True),
    Column("stop_reason", Text, nullable=True),
    Column("shed", Integer, nullable=False, default=0),
    Column("over_budget", Integer, nullable=False, default=0),
    Column("expired", Integer, nullable=False, default=0),
    Column("budget_hit_at", Float, nullable=True),
    Index("ix_shadows_name", "name"),
    Index("ix_shadows_feature", "feature"),
)

shadow_pairs = Table(
    "shadow_pairs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shadow_id", Integer, nullable=False),
    Column("shadow", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("unit_hash", String(64)),
    Column("ts", Float, nullable=False),
    Column("release_id", String(200), nullable=False),
    Column("provider", String(100)),
    Column("model", String(200)),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("finish_reason", String(32)),
    Column("refusal", Boolean, nullable=False),
    Column("tool_calls", JSONType),
    Column("output_chars", Integer, nullable=False),
    Column("output_text", Text),
    Index("ix_shadow_pairs_shadow_ts", "shadow_id", "ts"),
    Index("ix_shadow_pairs_request", "request_id"),
)

__all__ = ["shadow_pairs", "shadows"]
