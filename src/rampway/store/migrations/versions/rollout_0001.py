"""Rollout state (rampway.rollout.tables).

Revision ID: rollout_0001
Revises: flags_0001
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "rollout_0001"
down_revision = "flags_0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("active_feature", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("weight_bp", sa.Integer, nullable=False),
        sa.Column("candidate", sa.String(280), nullable=False),
        sa.Column("baseline", sa.String(280), nullable=False),
        sa.Column("baseline_channel", sa.String(200), nullable=False),
        sa.Column("salt", sa.String(300), nullable=False),
        sa.Column("plan", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("step_started_at", _ts(), nullable=True),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evaluation", _json(), nullable=True),
        sa.Column("evaluated_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
        sa.UniqueConstraint("active_feature", name="uq_rollouts_active_feature"),
    )
    op.create_index("ix_rollouts_feature", "rollouts", ["feature"])


def downgrade() -> None:
    op.drop_index("ix_rollouts_feature", table_name="rollouts")
    op.drop_table("rollouts")
