"""An index on `request_events.ts` alone.

Retention deletes `ts < cutoff` across every feature, a batch at a time
(`rampway.events.retention`); without it each batch's `SELECT id … WHERE ts < cutoff LIMIT n`
walked the table (the other indexes lead with feature or release). Reads by feature keep
`ix_request_events_feature_ts`.

Revision ID: events_0006
Revises: shadow_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "events_0006"
down_revision = "shadow_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_request_events_ts", "request_events", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_request_events_ts", table_name="request_events")
