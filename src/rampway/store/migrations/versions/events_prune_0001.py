"""`event_values.last_used` and `event_shapes.last_used`: when a sink last found or added the row
(epoch seconds), with an index each, so that retention can delete the values and shapes no event
can use any more (`rampway.events.dimensions`) without reading the event table.

Existing rows get the upgrade's time: as if every one had just been used, so none is deleted
before a whole retention (and the margins) has passed since the upgrade, whatever its events'
age. The column stays nullable: a gateway not yet upgraded inserts rows without it (NULL), which
retention stamps with the time it first sees them (see `rampway.events.dimensions`).

The downgrade drops the indexes and the columns; the rows stay.

Revision ID: events_prune_0001
Revises: events_0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "events_prune_0001"
down_revision = "events_0011"
branch_labels = None
depends_on = None

_TABLES = ("event_values", "event_shapes")


def upgrade() -> None:
    conn = op.get_bind()
    now = time.time()
    for table in _TABLES:
        op.add_column(table, sa.Column("last_used", sa.Float, nullable=True))
        conn.execute(sa.text(f"UPDATE {table} SET last_used = :now"), {"now": now})  # noqa: S608
        op.create_index(f"ix_{table}_last_used", table, ["last_used"])


def downgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"ix_{table}_last_used", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("last_used")
