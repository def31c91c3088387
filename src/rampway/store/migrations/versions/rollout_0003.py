"""Every look a rollout's judge took, with its evidence (rampway.rollout.tables.rollout_looks).

Revision ID: rollout_0003
Revises: experiments_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "rollout_0003"
down_revision = "events_0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "rollout_looks",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("weight_bp", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_looks"),
    )
    op.create_index("ix_rollout_looks_rollout_id_id", "rollout_looks", ["rollout_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_rollout_looks_rollout_id_id", table_name="rollout_looks")
    op.drop_table("rollout_looks")
