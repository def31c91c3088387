"""How rampway opens a SQLite database file, without SQLAlchemy (stdlib `sqlite3` only).

The store's engine (`rampway.store._engine`) and the light `flags set` write path
(`rampway.flags._sqlite_put`) open connections the same way: a 30 s busy timeout, foreign keys
on, WAL mode, and transactions begun explicitly (`BEGIN IMMEDIATE` for a write, so concurrent
writers queue on the busy timeout instead of deadlocking on a lock upgrade).
"""

from __future__ import annotations

import sqlite3
import time

SQLITE_BUSY_TIMEOUT_S = 30.0


def configure(dbapi_connection: sqlite3.Connection) -> None:
    """What every rampway SQLite connection gets before its first statement."""
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the docstring)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        enable_wal(cursor)
    finally:
        cursor.close()


def enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL mode, waiting out other connections doing the same on a new file.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked"
    at once instead of calling the busy handler when a second connection is converting the same
    fresh file: several processes opening a new database together failed ~1 in 20 times.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def first_line(error: BaseException) -> str:
    """The first line of a driver error, for a one-line `StoreError`."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = ["SQLITE_BUSY_TIMEOUT_S", "configure", "enable_wal", "first_line"]
