"""Run Alembic migrations in code, from the installed package (no alembic.ini needed).

`upgrade(engine)` brings a database to head inside one write transaction. On PostgreSQL it first
takes a transaction-scoped advisory lock, on SQLite `BEGIN IMMEDIATE` does the same job, so many
gateway processes starting at once migrate exactly once and the others wait, then see head.

Areas add revisions in parallel, so the history may have several heads (e.g. `evals_0001` and
`events_0001` both revising `0001`); we upgrade to all of them ("heads"). Prefer a linear chain
when you can: set `down_revision` to the newest existing revision.

Opening a store that is already at head is the common case (every CLI command, every gateway
start), so it does not import Alembic (with Mako and Pygments, ~0.2 s): the heads are read from
the revision files' `revision` / `down_revision` literals and compared with `alembic_version`.
Anything unusual (a file without plain literals, `depends_on`, a missing table) takes the full
Alembic path, which decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rampway._heads import MIGRATIONS_DIR, declared_heads
from rampway.errors import StoreError
from rampway.store._engine import translate_errors, write_transaction

if TYPE_CHECKING:
    from alembic.config import Config

_LOCK_KEY = 0x72616D70  # "ramp": any constant shared by every rampway process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (usable with `alembic.command`)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> tuple[str, ...]:
    """The newest revision(s) shipped with this code, sorted."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revision(s) the database is at, sorted (empty when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with translate_errors(), engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def upgrade(engine: Engine) -> None:
    """Migrate the database to head; a database newer than this code is a clear StoreError."""
    declared = declared_heads()
    if declared is not None and _stored_heads(engine) == declared:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    heads = head_revisions()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
        if current == heads:
            return
        try:
            command.upgrade(alembic_config(conn), "heads")
        except CommandError as exc:
            raise StoreError(
                f"cannot migrate database at revision {', '.join(current)} to "
                f"{', '.join(heads)}: {exc} (is the database newer than this rampway?)"
            ) from exc


def _stored_heads(engine: Engine) -> tuple[str, ...] | None:
    """The revisions in `alembic_version`, sorted; None when it cannot be read (a new database)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    except sa.exc.SQLAlchemyError:
        return None
    return tuple(sorted(str(row[0]) for row in rows))
