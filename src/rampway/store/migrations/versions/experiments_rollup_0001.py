"""The experiments' roll-up tables (rampway.experiments.tables: experiment_rollup_segments,
experiment_rollup_units), kept by the event sink per batch (rampway.experiments.rollup).

No segment is opened here for the experiments already running: the analysis opens one on its
first run (`rollup.prepare`) and backfills it from the event log once its first seconds are
over, with the clock of the process that will also read it.

Revision ID: experiments_rollup_0001
Revises: events_0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "experiments_rollup_0001"
down_revision = "events_0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_rollup_segments",
        sa.Column("experiment_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("cutoff", sa.Float, nullable=False),
        sa.Column("until", sa.Float, nullable=True),
        sa.Column("merged", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("unit", sa.String(16), nullable=False, server_default="user"),
        sa.Column("arms", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiment_rollup_segments"),
    )
    op.create_index("ix_experiment_rollup_segments_feature", "experiment_rollup_segments",
                    ["feature"])
    counts = [sa.Column(name, sa.BigInteger, nullable=False)
              for name in ("requests", "errors", "refusals", "ok_requests")]
    op.create_table(
        "experiment_rollup_units",
        sa.Column("experiment_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("arm_lo", sa.SmallInteger, nullable=False),
        sa.Column("arm_hi", sa.SmallInteger, nullable=False),
        sa.Column("first_ts", sa.Float, nullable=False),
        sa.Column("last_ts", sa.Float, nullable=False),
        *counts,
        sa.Column("latency_ms_sum", sa.Float, nullable=False),
        sa.Column("cost_usd_sum", sa.Float, nullable=False),
        sa.Column("output_tokens_sum", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "unit", name="pk_experiment_rollup_units"),
    )


def downgrade() -> None:
    op.drop_table("experiment_rollup_units")
    op.drop_index("ix_experiment_rollup_segments_feature", "experiment_rollup_segments")
    op.drop_table("experiment_rollup_segments")
