"""Experiments (rampway.experiments.tables).

Revision ID: experiments_0001
Revises: events_0002
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "experiments_0001"
down_revision = "events_0002"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("active_feature", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("arms", _json(), nullable=False),
        sa.Column("coverage_bp", sa.Integer, nullable=False),
        sa.Column("salt", sa.String(300), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("stopped_at", _ts(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("stopped_by", sa.String(200), nullable=True),
        sa.Column("stop_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("active_feature", name="uq_experiments_active_feature"),
    )
    op.create_index("ix_experiments_feature", "experiments", ["feature"])
    op.create_index("ix_experiments_name", "experiments", ["name"])


def downgrade() -> None:
    op.drop_index("ix_experiments_name", table_name="experiments")
    op.drop_index("ix_experiments_feature", table_name="experiments")
    op.drop_table("experiments")
