"""Recorded gate decisions (rampway.gate.tables).

Revision ID: gate_0001
Revises: rollout_0001
Create Date: 2025-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "gate_0001"
down_revision = "rollout_0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "gate_decisions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("candidate", sa.String(280), nullable=False),
        sa.Column("baseline", sa.String(280), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(300), nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("suite_digest", sa.String(64), nullable=True),
        sa.Column("summary", _json(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_decisions"),
        sa.CheckConstraint(
            "verdict IN ('pass', 'fail', 'inconclusive')", name="ck_gate_decisions_verdict"
        ),
    )
    op.create_index(
        "ix_gate_decisions_feature_candidate_baseline",
        "gate_decisions",
        ["feature", "candidate", "baseline"],
    )


def downgrade() -> None:
    op.drop_index("ix_gate_decisions_feature_candidate_baseline", table_name="gate_decisions")
    op.drop_table("gate_decisions")
