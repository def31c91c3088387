"""Experiment tables, on the store's shared metadata (Alembic `experiments_0001`).

`experiments` holds one row per started experiment, kept after it stops: the analysis needs its
window (`started_at` … `stopped_at`), its arms and its salt for as long as anyone asks.

* `arms` — `[{"name", "release_id", "weight_bp"}, …]`, the control first, release ids resolved
  when the experiment started (a channel moving later changes nothing).
* `definition` — the YAML as started (validated, refs as written), so editing the file later
  never rewrites what ran.
* `active_feature` — equal to `feature` while running, NULL once stopped, and UNIQUE: the
  database itself refuses a second running experiment on a feature (NULLs don't clash).
* `version` — bumped by every change (stop), the ETag of the admin API.

The roll-up tables (`experiments_rollup_0001`; `rampway.experiments.rollup`): one
`experiment_rollup_segments` row per experiment whose requests the event sinks roll up (its
window start `since`, the `cutoff` the sinks roll up from until the first seconds are merged,
`until` once stopped, the unit and the arms as (name, release id) in the record's order), and
`experiment_rollup_units` one unit's exposure aggregates in it — the columns of
`rampway.experiments.extract`'s exposure query, the arms as their index (lowest and highest
seen: they differ for a multiple exposure).

The latency histograms (`experiments_rollup_0002`; `rampway.experiments.rollup_quantiles` says
why these two): `experiment_rollup_latency` counts the successful requests' latencies per arm
(the arm that served them) in the fine 1% buckets of `rampway._latency_buckets`, split over a
few `slot`s so that two sinks seldom wait for each other's rows; `experiment_rollup_unit_latency`
counts each unit's per arm in coarse buckets (`COARSE` fine buckets each).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    false,
)

from rampway.store.schema import JSONType, UTCDateTime, metadata

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("feature", String(200), nullable=False),
    Column("active_feature", String(200), nullable=True, unique=True),
    Column("status", String(16), nullable=False),
    Column("arms", JSONType, nullable=False),
    Column("coverage_bp", Integer, nullable=False),
    Column("salt", String(300), nullable=False),
    Column("definition", JSONType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("stopped_at", UTCDateTime(), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("stopped_by", String(200), nullable=True),
    Column("stop_reason", Text, nullable=True),
    Index("ix_experiments_feature", "feature"),
    Index("ix_experiments_name", "name"),
)

experiment_rollup_segments = Table(
    "experiment_rollup_segments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=False),
    Column("feature", String(200), nullable=False),
    Column("since", Float, nullable=False),
    Column("cutoff", Float, nullable=False),
    Column("until", Float, nullable=True),
    Column("merged", Boolean, nullable=False, server_default=false()),
    Column("unit", String(16), nullable=False, server_default="user"),
    Column("arms", JSONType, nullable=False),
    Index("ix_experiment_rollup_segments_feature", "feature"),
)

experiment_rollup_units = Table(
    "experiment_rollup_units",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=False),
    Column("unit", String(64), primary_key=True),
    Column("arm_lo", SmallInteger, nullable=False),
    Column("arm_hi", SmallInteger, nullable=False),
    Column("first_ts", Float, nullable=False),
    Column("last_ts", Float, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("refusals", BigInteger, nullable=False),
    Column("ok_requests", BigInteger, nullable=False),
    Column("latency_ms_sum", Float, nullable=False),
    Column("cost_usd_sum", Float, nullable=False),
    Column("output_tokens_sum", BigInteger, nullable=False),
)

experiment_rollup_latency = Table(
    "experiment_rollup_latency",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=False),
    Column("arm", SmallInteger, primary_key=True, autoincrement=False),
    Column("slot", SmallInteger, primary_key=True, autoincrement=False),
    Column("bucket", SmallInteger, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
)

experiment_rollup_unit_latency = Table(
    "experiment_rollup_unit_latency",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=False),
    Column("unit", String(64), primary_key=True),
    Column("arm", SmallInteger, primary_key=True, autoincrement=False),
    Column("bucket", SmallInteger, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
)

__all__ = ["experiment_rollup_latency", "experiment_rollup_segments",
           "experiment_rollup_unit_latency", "experiment_rollup_units", "experiments"]
