"""Eval runs, results and the response cache (rampway.evals.tables).

Revision ID: evals_0001
Revises: 0001
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "evals_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "eval_cache",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("release_digest", sa.String(64), nullable=False),
        sa.Column("response", _json(), nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_eval_cache"),
    )
    op.create_index("ix_eval_cache_release_digest", "eval_cache", ["release_digest"])
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("release_id", sa.String(280), nullable=False),
        sa.Column("release_digest", sa.String(64), nullable=False),
        sa.Column("suite_digest", sa.String(64), nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("traffic_class", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("meta", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index(
        "ix_eval_runs_feature_release_digest_suite_digest",
        "eval_runs",
        ["feature", "release_digest", "suite_digest"],
    )
    op.create_table(
        "eval_results",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("result", _json(), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "case_id", "repeat", name="pk_eval_results"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], name="fk_eval_results_run_id_eval_runs"
        ),
    )


def downgrade() -> None:
    op.drop_table("eval_results")
    op.drop_index("ix_eval_runs_feature_release_digest_suite_digest", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_index("ix_eval_cache_release_digest", table_name="eval_cache")
    op.drop_table("eval_cache")
