"""Event log (request and feedback events) and app keys (rampway.events.tables).

Revision ID: events_0001
Revises: evals_0001
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "events_0001"
down_revision = "evals_0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "request_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("release_id", sa.String(200), nullable=True),
        sa.Column("arm", sa.String(100), nullable=True),
        sa.Column("unit_hash", sa.String(64), nullable=True),
        sa.Column("attributes", _json(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("fallback_used", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("refusal", sa.Boolean, nullable=False),
        sa.Column("finish_reason", sa.String(32), nullable=True),
        sa.Column("output_chars", sa.Integer, nullable=False),
        sa.Column("prompt_text", sa.Text, nullable=True),
        sa.Column("response_text", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_request_events"),
    )
    op.create_index("ix_request_events_feature_ts", "request_events", ["feature", "ts"])
    op.create_index("ix_request_events_release_ts", "request_events", ["release_id", "ts"])
    op.create_index("ix_request_events_unit", "request_events", ["unit_hash"])
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("unit_hash", sa.String(64), nullable=True),
        sa.Column("feature", sa.String(200), nullable=True),
        sa.Column("attributes", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_events"),
    )
    op.create_index("ix_feedback_events_request", "feedback_events", ["request_id"])
    op.create_index("ix_feedback_events_unit", "feedback_events", ["unit_hash"])
    op.create_index("ix_feedback_events_name_ts", "feedback_events", ["name", "ts"])
    op.create_table(
        "app_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("features", _json(), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_app_keys"),
        sa.UniqueConstraint("name", name="uq_app_keys_name"),
        sa.UniqueConstraint("key_hash", name="uq_app_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("app_keys")
    op.drop_index("ix_feedback_events_name_ts", table_name="feedback_events")
    op.drop_index("ix_feedback_events_unit", table_name="feedback_events")
    op.drop_index("ix_feedback_events_request", table_name="feedback_events")
    op.drop_table("feedback_events")
    op.drop_index("ix_request_events_unit", table_name="request_events")
    op.drop_index("ix_request_events_release_ts", table_name="request_events")
    op.drop_index("ix_request_events_feature_ts", table_name="request_events")
    op.drop_table("request_events")
