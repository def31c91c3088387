"""The judge's roll-up tables (rampway.rollout.tables: rollup_segments, rollup_units,
rollup_arms), kept by the event sink per batch (rampway.rollout.rollup).

Revision ID: rollout_0004
Revises: events_0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rollout_0004"
down_revision = "events_0007"
branch_labels = None
depends_on = None

_KEY = ("feature", "since", "release_id", "arm")


def _key() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("feature", sa.String(200), nullable=False),
            sa.Column("since", sa.Float, nullable=False),
            sa.Column("release_id", sa.String(200), nullable=False),
            sa.Column("arm", sa.String(100), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "rollup_segments",
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("merged", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("feature", "since", name="pk_rollup_segments"),
    )
    op.create_table(
        "rollup_units",
        *_key(),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("latency", sa.LargeBinary, nullable=False),
        sa.Column("ttft", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "unit", name="pk_rollup_units"),
    )
    op.create_table(
        "rollup_arms",
        *_key(),
        sa.Column("moments", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, name="pk_rollup_arms"),
    )


def downgrade() -> None:
    op.drop_table("rollup_arms")
    op.drop_table("rollup_units")
    op.drop_table("rollup_segments")
