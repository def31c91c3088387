"""Event rows record the session unit beside the user unit (`session_hash`, both tables).

A request can carry a user unit (`unit_hash`) and a session id; experiments, rollouts and flag
splits declared `unit: session` assign by the session, and their analysis groups by this
column. Hashed like `unit_hash` (`rampway.events.model.hash_unit`). Nullable, no default:
adding it rewrites no row; rows written before it have no session (NULL), as do requests that
sent none. Indexed like `unit_hash`: feedback by session looks its session's requests up.

Revision ID: events_0007
Revises: events_0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "events_0007"
down_revision = "events_0006"
branch_labels = None
depends_on = None

_TABLES = (("request_events", "ix_request_events_session"),
           ("feedback_events", "ix_feedback_events_session"))


def upgrade() -> None:
    for table, index in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("session_hash", sa.String(64), nullable=True))
        op.create_index(index, table, ["session_hash"])


def downgrade() -> None:
    for table, index in _TABLES:
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("session_hash")
