"""Request events say whether a hedged second request was sent (`request_events.hedged`).

`provider`/`model` already name the target that answered; `hedged` tells that a second request
went to the next target of the chain because the first was slow (`gateway.routing.hedge_after`).
A boolean with a server default of false: rows written before it read back as "not hedged",
and adding it is a metadata-only change on PostgreSQL 11+ (a constant default) and SQLite.

Revision ID: events_0004
Revises: rollout_0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "events_0004"
down_revision = "rollout_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.add_column(
            sa.Column("hedged", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.drop_column("hedged")
