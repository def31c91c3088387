"""Request events record the tool calls the answer made (`request_events.tool_calls`).

`[{"name": "lookup_order", "arguments": "{\"order_id\": \"A1\"}"}, …]`, NULL when the answer
called no tool. A shadow comparison reads the primary's tool calls here (the primary side of a
pair is the request's event row, never a copy). Arguments are stored only when the feature's
retention keeps texts (redacted like them); otherwise the names alone. A nullable JSON column
without a default: adding it rewrites no row.

Revision ID: events_0005
Revises: events_0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "events_0005"
down_revision = "events_0004"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.add_column(sa.Column("tool_calls", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.drop_column("tool_calls")
