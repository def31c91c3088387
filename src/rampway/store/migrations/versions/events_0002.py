"""Request events record the flags evaluated for the request (`request_events.flags`).

A nullable JSON column without a default: rows written before it read back as NULL ("no flags
recorded"), and adding it is a metadata-only change (PostgreSQL `ADD COLUMN`, SQLite
`ALTER TABLE … ADD COLUMN` under batch mode), so no event row is copied or rewritten.

Revision ID: events_0002
Revises: rollout_0002
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "events_0002"
down_revision = "rollout_0002"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.add_column(sa.Column("flags", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.drop_column("flags")
