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
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

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

__all__ = ["experiments"]
