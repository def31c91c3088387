"""Run Alembic migrations in code, from the installed package (no alembic.ini needed).

`upgrade(engine)` brings a database to head inside one write transaction. On PostgreSQL it first
takes a transaction-scoped advisory lock, on SQLite `BEGIN IMMEDIATE` does the same job, so many
gateway processes starting at once migrate exactly once and the others wait, then see head.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from rampway.errors import StoreError
from rampway.store._engine import write_transaction

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x72616D70  # "ramp": any constant shared by every rampway process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (usable with `alembic.command`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this code; fails if the history has forked."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise StoreError(f"migrations have {len(heads)} heads {sorted(heads)}; expected one")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database to head; a database newer than this code is a clear StoreError."""
    head = head_revision()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        try:
            command.upgrade(alembic_config(conn), "head")
        except CommandError as exc:
            raise StoreError(
                f"cannot migrate database at revision {current!r} to {head!r}: {exc} "
                "(is the database newer than this rampway?)"
            ) from exc
