"""The roll-up's batch ledger (rampway.rollout.tables: rollup_batches): which event batches a
sink writing elsewhere (ClickHouse) has rolled up, so a batch retried after a lost
acknowledgement is counted once (rampway.rollout.batches).

Revision ID: rollout_0006
Revises: events_prune_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rollout_0006"
down_revision = "events_prune_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_batches",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("token", "feature", "since", name="pk_rollup_batches"),
    )
    op.create_index("ix_rollup_batches_feature_since", "rollup_batches", ["feature", "since"])
    op.create_index("ix_rollup_batches_at", "rollup_batches", ["at"])


def downgrade() -> None:
    op.drop_index("ix_rollup_batches_at", table_name="rollup_batches")
    op.drop_index("ix_rollup_batches_feature_since", table_name="rollup_batches")
    op.drop_table("rollup_batches")
