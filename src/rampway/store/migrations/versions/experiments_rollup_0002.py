"""The experiments' roll-up's latency histograms (rampway.experiments.tables:
experiment_rollup_latency, experiment_rollup_unit_latency), so that a quantile metric
(latency_p95) is read from the roll-up (rampway.experiments.rollup_quantiles).

The roll-ups made before have no histograms and are kept: their other metrics are still read
from them, and a quantile's analysis finds that the histograms do not count the roll-up's
requests and reads the event log (exact), until the experiment ends. Deleting them instead
would have the next analysis backfill a running experiment's whole window in one
transaction, with every gateway's sink waiting behind it (and the deletes could deadlock
with those sinks' upserts).

Revision ID: experiments_rollup_0002
Revises: experiments_rollup_0001
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "experiments_rollup_0002"
down_revision = "experiments_rollup_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    small = [sa.Column(name, sa.SmallInteger, nullable=False, autoincrement=False)
             for name in ("arm", "slot", "bucket")]
    op.create_table(
        "experiment_rollup_latency",
        sa.Column("experiment_id", sa.Integer, nullable=False, autoincrement=False),
        *small,
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "arm", "slot", "bucket",
                                name="pk_experiment_rollup_latency"),
    )
    op.create_table(
        "experiment_rollup_unit_latency",
        sa.Column("experiment_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("arm", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("bucket", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "unit", "arm", "bucket",
                                name="pk_experiment_rollup_unit_latency"),
    )


def downgrade() -> None:
    op.drop_table("experiment_rollup_unit_latency")
    op.drop_table("experiment_rollup_latency")
