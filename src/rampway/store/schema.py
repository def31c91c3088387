"""The database schema: one `metadata` object every module adds its tables to.

Why Core tables and one shared `metadata`: Alembic compares this object with the database
(`tests/store/test_migrations.py` fails when a table here has no migration), and other areas can
declare their own tables next to these — or ORM classes with `metadata = schema.metadata` — without
touching the store's code. Adding a table means: declare it in `rampway/<area>/tables.py` on
this `metadata` (found by `load_all_tables()`, no registration needed), then add one new revision
under `migrations/versions/`; `tests/store/test_store_migrations.py` checks the two agree.

Timestamps are `UTCDateTime`: stored as UTC, always returned timezone-aware, on SQLite too.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no timezone type and hands back naive datetimes; this decorator rejects naive input
    (a silent local-time bug) and re-attaches UTC on the way out, so `created_at` compares equal
    whichever database stored it.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _JSONB(sa.types.TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact).

    A decorator rather than `JSON().with_variant(JSONB(), "postgresql")` so that importing the
    schema does not import SQLAlchemy's PostgreSQL dialect package (~0.1 s of every CLI command
    on SQLite, issue #17): JSONB is imported when a PostgreSQL connection first needs it, and by
    then the dialect is loaded anyway. A Python `None` stays JSON `null`, as JSON stores it
    (`should_evaluate_none`), not SQL NULL."""

    impl = sa.JSON
    cache_ok = True
    should_evaluate_none = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


JSONType: sa.types.TypeEngine[Any] = _JSONB()


def is_json(type_: sa.types.TypeEngine[Any]) -> bool:
    """Whether a column of this type holds JSON (`JSONType` or a plain `sa.JSON`)."""
    return isinstance(type_, (sa.JSON, _JSONB))

NAME = 200  # length of feature / channel / actor names
RELEASE_ID = 280  # "<feature>@<hex>", hex up to the full digest

features = sa.Table(
    "features",
    metadata,
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feature", sa.String(NAME), sa.ForeignKey("features.name"), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("release_id", sa.String(RELEASE_ID), nullable=False, unique=True),
    sa.Column("canonical", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(NAME), nullable=False),
    sa.UniqueConstraint("feature", "digest"),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("feature", sa.String(NAME), sa.ForeignKey("features.name"), primary_key=True),
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column(
        "release_id", sa.String(RELEASE_ID), sa.ForeignKey("releases.release_id"), nullable=False
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

channel_history = sa.Table(
    "channel_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feature", sa.String(NAME), nullable=False),
    sa.Column("channel", sa.String(NAME), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("from_release", sa.String(RELEASE_ID), nullable=True),
    sa.Column(
        "to_release", sa.String(RELEASE_ID), sa.ForeignKey("releases.release_id"), nullable=False
    ),
    sa.Column("actor", sa.String(NAME), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("feature", "channel", "seq"),
    sa.ForeignKeyConstraint(["feature", "channel"], ["channels.feature", "channels.name"]),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(NAME), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("object_type", sa.String(100), nullable=False),
    sa.Column("object_id", sa.String(RELEASE_ID), nullable=False),
    sa.Column("before", JSONType, nullable=True),
    sa.Column("after", JSONType, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index(None, "object_type", "object_id"),
)

control_state = sa.Table(
    "control_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
)



def load_all_tables() -> sa.MetaData:
    """Import every `rampway.<area>.tables` module, so `metadata` describes the whole schema.

    Tables register themselves on `metadata` when their module is imported; Alembic and the
    schema test need all of them, not just those the current process happened to import.
    """
    package_dir = Path(__file__).resolve().parent.parent
    for path in sorted(package_dir.glob("*/tables.py")):
        importlib.import_module(f"rampway.{path.parent.name}.tables")
    return metadata


__all__ = [
    "JSONType",
    "NAMING_CONVENTION",
    "UTCDateTime",
    "audit_log",
    "channel_history",
    "channels",
    "control_state",
    "features",
    "load_all_tables",
    "metadata",
    "releases",
]
