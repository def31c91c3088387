"""Flag and segment definitions (rampway.flags.tables) and admin API keys (rampway.admin.tables).

Revision ID: flags_0001
Revises: events_0001
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "flags_0001"
down_revision = "events_0001"
branch_labels = None
depends_on = None

NAME = 200


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _definitions(table: str) -> None:
    op.create_table(
        table,
        sa.Column("key", sa.String(NAME), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("file", sa.Text, nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("updated_by", sa.String(NAME), nullable=False),
        sa.PrimaryKeyConstraint("key", name=f"pk_{table}"),
    )


def upgrade() -> None:
    _definitions("flag_definitions")
    _definitions("segment_definitions")
    op.create_table(
        "admin_keys",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(NAME), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_admin_keys"),
        sa.UniqueConstraint("key_hash", name="uq_admin_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("admin_keys")
    op.drop_table("segment_definitions")
    op.drop_table("flag_definitions")
