"""Shadow traffic (rampway.shadow.tables): shadow definitions as started, and their pairs.

Revision ID: shadow_0001
Revises: events_0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "shadow_0001"
down_revision = "events_0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shadows",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("active_name", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("candidates", _json(), nullable=False),
        sa.Column("sample_bp", sa.Integer, nullable=False),
        sa.Column("twin_bp", sa.Integer, nullable=False),
        sa.Column("salt", sa.String(300), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("ends_at", sa.Float, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("stopped_at", _ts(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("stopped_by", sa.String(200), nullable=True),
        sa.Column("stop_reason", sa.Text, nullable=True),
        sa.Column("shed", sa.Integer, nullable=False),
        sa.Column("over_budget", sa.Integer, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
        sa.Column("budget_hit_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_shadows"),
        sa.UniqueConstraint("active_name", name="uq_shadows_active_name"),
    )
    op.create_index("ix_shadows_name", "shadows", ["name"])
    op.create_index("ix_shadows_feature", "shadows", ["feature"])
    op.create_table(
        "shadow_pairs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("shadow_id", sa.Integer, nullable=False),
        sa.Column("shadow", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit_hash", sa.String(64), nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("release_id", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("finish_reason", sa.String(32), nullable=True),
        sa.Column("refusal", sa.Boolean, nullable=False),
        sa.Column("tool_calls", _json(), nullable=True),
        sa.Column("output_chars", sa.Integer, nullable=False),
        sa.Column("output_text", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_shadow_pairs"),
    )
    op.create_index("ix_shadow_pairs_shadow_ts", "shadow_pairs", ["shadow_id", "ts"])
    op.create_index("ix_shadow_pairs_request", "shadow_pairs", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_shadow_pairs_request", table_name="shadow_pairs")
    op.drop_index("ix_shadow_pairs_shadow_ts", table_name="shadow_pairs")
    op.drop_table("shadow_pairs")
    op.drop_index("ix_shadows_feature", table_name="shadows")
    op.drop_index("ix_shadows_name", table_name="shadows")
    op.drop_table("shadows")
