"""The roll-up's unit: `rollup_segments.unit` (user | session), the unit the rollout assigns and
the judge counts by, so a rollout by session is rolled up by session (rampway.rollout.segments).

Revision ID: rollout_0005
Revises: rollout_0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rollout_0005"
down_revision = "rollout_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollup_segments") as batch:
        batch.add_column(sa.Column("unit", sa.String(16), nullable=False,
                                   server_default="user"))


def downgrade() -> None:
    with op.batch_alter_table("rollup_segments") as batch:
        batch.drop_column("unit")
