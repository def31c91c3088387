"""The overview's health roll-up (rampway.events.tables.health_minutes), kept by the event sink
per batch (rampway.events.health).

Existing events are not rolled up here: a store that holds a day of events at 2,500 requests/s
would hold every gateway's start for minutes. `rampway events rebuild-health --since 1d` rolls
them up (the overview reads the last day).

Revision ID: events_0008
Revises: rollout_0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "events_0008"
down_revision = "rollout_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_minutes",
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("minute", sa.Integer, nullable=False),
        sa.Column("release_id", sa.String(200), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("fallbacks", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("feature", "minute", "release_id", name="pk_health_minutes"),
    )
    op.create_index("ix_health_minutes_minute", "health_minutes", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_health_minutes_minute", table_name="health_minutes")
    op.drop_table("health_minutes")
