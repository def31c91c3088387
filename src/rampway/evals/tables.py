"""Eval tables on the store's shared metadata. Alembic revision `evals_0001` creates them.

- `eval_cache`: one model answer per key — sha256(release digest, case input hash, repeat) —
  so re-running a suite on an unchanged release makes no calls. Judge answers are cached too
  (kind = 'judge'). Cost and latency of the original call are kept: a cached result still
  counts what the call costs, it just is not spent again.
- `eval_runs`: a suite against one release; `status` is 'running' until every (case, repeat)
  has a result, then 'complete'. An interrupted run is resumed by the next identical run.
- `eval_results`: one scored result per (run, case, repeat), written as results finish.

Times are epoch seconds (float), like the event log.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from rampway.store.schema import JSONType, metadata

eval_cache = Table(
    "eval_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("release_digest", String(64), nullable=False),
    Column("response", JSONType, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "release_digest"),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("feature", String(200), nullable=False),
    Column("release_id", String(280), nullable=False),
    Column("release_digest", String(64), nullable=False),
    Column("suite_digest", String(64), nullable=False),
    Column("repeats", Integer, nullable=False),
    Column("traffic_class", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("summary", JSONType, nullable=True),
    Column("meta", Text, nullable=True),
    Index(None, "feature", "release_digest", "suite_digest"),
)

eval_results = Table(
    "eval_results",
    metadata,
    Column("run_id", String(32), ForeignKey("eval_runs.id"), primary_key=True),
    Column("case_id", String(200), primary_key=True),
    Column("repeat", Integer, primary_key=True),
    Column("cache_key", String(64), nullable=False),
    Column("result", JSONType, nullable=False),
    Column("created_at", Float, nullable=False),
)

__all__ = ["eval_cache", "eval_results", "eval_runs"]
