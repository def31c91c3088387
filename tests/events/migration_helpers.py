"""An events database left at an older revision, for the tests that migrate rows written by it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from rampway.store import alembic_config, parse_url


@contextmanager
def engine_at(db_url: str, revision: str) -> Iterator[sa.Engine]:
    """An engine on `db_url` migrated only up to `revision` (a SQLite file's directory is
    created first), disposed on exit; the test writes its old rows through it."""
    parsed = parse_url(db_url)
    if parsed.get_backend_name() == "sqlite":
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
        yield engine
    finally:
        engine.dispose()
