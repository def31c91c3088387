"""Request events record what the provider says answered: `served_model`, `system_fingerprint`.

`model` is the model rampway asked for; a provider may answer from a dated snapshot behind an
alias (`gpt-4o` → `gpt-4o-2024-08-06`) and move the alias without notice. Keeping its own answer
per request is what `rampway models drift` reads. Nullable columns without defaults: older rows
read back NULL ("not recorded"), and adding them rewrites no event row.

Revision ID: events_0003
Revises: experiments_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "events_0003"
down_revision = "experiments_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.add_column(sa.Column("served_model", sa.String(200), nullable=True))
        batch.add_column(sa.Column("system_fingerprint", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_events") as batch:
        batch.drop_column("system_fingerprint")
        batch.drop_column("served_model")
