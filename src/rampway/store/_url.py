"""Where the database lives: default location, `RAMPWAY_DB`, and URL normalisation.

Pure string/path logic, no I/O, so the CLI, the gateway and tests agree on one answer:

    >>> resolve_url(Path("/srv/app"), "sqlite:///data/r.db")
    'sqlite:////srv/app/data/r.db'
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from rampway._dblocation import ENV_VAR, default_db_file
from rampway.errors import ConfigError

SUPPORTED = ("sqlite", "postgresql")


def default_url(project_root: Path) -> str:
    """`sqlite:///<root>/.rampway/rampway.db` with an absolute path (created on first open)."""
    return f"sqlite:///{default_db_file(project_root)}"


def resolve_url(project_root: Path, configured: str | None) -> str:
    """Pick the database URL: env `RAMPWAY_DB` > `configured` (rampway.yaml) > default.

    A relative SQLite path in `configured` is relative to the project root, not to the working
    directory, so `rampway` behaves the same whichever subdirectory it is run from.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    if configured and configured.strip():
        return _anchor_sqlite(configured.strip(), project_root)
    return default_url(project_root)


def parse_url(url: str) -> URL:
    """Parse and normalise a URL; `postgresql://` / `postgres://` use the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in SUPPORTED:
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} in {url!r}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _anchor_sqlite(url: str, root: Path) -> str:
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if path is None or path.is_absolute():
        return url
    return parsed.set(database=str((root / path).resolve())).render_as_string(
        hide_password=False
    )
