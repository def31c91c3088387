"""Recorded gate decisions, on the store's shared metadata (Alembic revision `gate_0001`).

`gate_decisions` keeps one row per finished comparison of `rampway gate`, so that a rollout can
ask "did this candidate pass its gate against the release I would start from?" without re-running
evals. Rows are only ever appended: a re-run adds a newer row and the newest one counts.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table

from rampway.store.schema import JSONType, UTCDateTime, metadata

gate_decisions = Table(
    "gate_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feature", String(200), nullable=False),
    Column("candidate", String(280), nullable=False),  # release ids, "<feature>@<hex>"
    Column("baseline", String(280), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("policy", String(300), nullable=False),  # "policies/<feature>.yaml" or "default policy"
    Column("policy_digest", String(64), nullable=False),
    Column("suite_digest", String(64), nullable=True),
    Column("summary", JSONType, nullable=False),  # the report's JSON form, size-bounded
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    CheckConstraint("verdict IN ('pass', 'fail', 'inconclusive')", name="verdict"),
    Index("ix_gate_decisions_feature_candidate_baseline", "feature", "candidate", "baseline"),
)

__all__ = ["gate_decisions"]
