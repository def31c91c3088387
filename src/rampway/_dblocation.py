"""Where a project's database lives by default, and the variable that overrides it.

Standard library only: `rampway.store._url` (which imports SQLAlchemy) and the light
`flags set` road (`rampway.flags._sqlite_put`, which must not) read the same names here,
so the two roads cannot drift apart on which file a project uses:

    >>> default_db_file(Path("/srv/app"))
    PosixPath('/srv/app/.rampway/rampway.db')
"""

from __future__ import annotations

from pathlib import Path

ENV_VAR = "RAMPWAY_DB"
DATA_DIR = ".rampway"  # rampway's own directory in a project (the default database lives here)


def default_db_file(project_root: Path) -> Path:
    """The absolute path of the default SQLite file (created on first open)."""
    return (project_root / DATA_DIR / "rampway.db").resolve()


__all__ = ["DATA_DIR", "ENV_VAR", "default_db_file"]
