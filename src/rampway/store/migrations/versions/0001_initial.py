"""Initial store: features, releases, channels, channel history, audit log, control state.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME = 200
RELEASE_ID = 280


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "features",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_features"),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("feature", sa.String(NAME), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("release_id", sa.String(RELEASE_ID), nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(NAME), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.ForeignKeyConstraint(
            ["feature"], ["features.name"], name="fk_releases_feature_features"
        ),
        sa.UniqueConstraint("feature", "digest", name="uq_releases_feature_digest"),
        sa.UniqueConstraint("release_id", name="uq_releases_release_id"),
    )
    op.create_table(
        "channels",
        sa.Column("feature", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("release_id", sa.String(RELEASE_ID), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("feature", "name", name="pk_channels"),
        sa.ForeignKeyConstraint(
            ["feature"], ["features.name"], name="fk_channels_feature_features"
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.release_id"], name="fk_channels_release_id_releases"
        ),
    )
    op.create_table(
        "channel_history",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("feature", sa.String(NAME), nullable=False),
        sa.Column("channel", sa.String(NAME), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("from_release", sa.String(RELEASE_ID), nullable=True),
        sa.Column("to_release", sa.String(RELEASE_ID), nullable=False),
        sa.Column("actor", sa.String(NAME), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_history"),
        sa.ForeignKeyConstraint(
            ["to_release"],
            ["releases.release_id"],
            name="fk_channel_history_to_release_releases",
        ),
        sa.ForeignKeyConstraint(
            ["feature", "channel"],
            ["channels.feature", "channels.name"],
            name="fk_channel_history_feature_channel_channels",
        ),
        sa.UniqueConstraint(
            "feature", "channel", "seq", name="uq_channel_history_feature_channel_seq"
        ),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.String(NAME), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(RELEASE_ID), nullable=False),
        sa.Column("before", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index(
        "ix_audit_log_object_type_object_id", "audit_log", ["object_type", "object_id"]
    )
    control_state = op.create_table(
        "control_state",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_control_state"),
        sa.CheckConstraint("id = 1", name="ck_control_state_single_row"),
    )
    op.bulk_insert(control_state, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("control_state")
    op.drop_index("ix_audit_log_object_type_object_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("channel_history")
    op.drop_table("channels")
    op.drop_table("releases")
    op.drop_table("features")
