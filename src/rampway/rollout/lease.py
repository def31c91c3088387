"""One controller looks for the whole fleet: a lease that the database (or the file) keeps.

Every `rampway serve` runs a controller by default, and `rampway controller` may run beside
them; transitions are exactly-once anyway (compare-and-swap), but N gateways would make N
looks per interval — N times the analysis load on the database for nothing. The controller
loops therefore look only while they hold this lease:

* PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection kept open
  for it. The lock lives exactly as long as that session: a controller that crashes, is killed
  or loses its network drops it, and another takes over at its next try — no expiry to tune,
  no clock to trust.
* SQLite (one host by nature): an exclusive `flock` on `<database>.controller.lock` beside the
  database file, released by the kernel when the process ends. An in-memory database is
  private to its process: always held.

`hold()` is called before each look: it keeps a held lease (checking the PostgreSQL session
is still alive) or tries to take a free one, and never blocks.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("rampway.rollout")

#: The advisory lock key: the first 8 bytes of a hash of the lease's name, as a signed bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"rampway-rollout-controller").digest()[:8], "big",
                          signed=True)


class FleetLease:
    """Held by at most one controller per database at a time (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._private = False

    @property
    def held(self) -> bool:
        return self._private or self._conn is not None or self._file is not None

    def hold(self) -> bool:
        """True when this controller may look now (keeping or taking the lease)."""
        try:
            if self.engine.dialect.name == "postgresql":
                return self._hold_postgres()
            return self._hold_file()
        except (sa.exc.DBAPIError, OSError) as exc:
            log.warning("controller lease unavailable, not looking this time: %s", exc)
            self.release()
            return False

    def release(self) -> None:
        """Give the lease up (another controller takes it at its next try)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                # The pool would keep the session (and its lock) alive: unlock explicitly,
                # and drop the connection rather than return it to the pool.
                conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
            except sa.exc.DBAPIError:
                pass
            conn.invalidate()
            conn.close()
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()  # closing the descriptor releases the flock
        self._private = False

    def _hold_postgres(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except sa.exc.DBAPIError:
                self.release()  # the session is gone, and the lock with it: try again below
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar())
        if got:
            self._conn = conn
        else:
            conn.close()  # held by someone else's session; this one holds nothing
        return got

    def _hold_file(self) -> bool:
        if self.held:
            return True
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            self._private = True
            return True
        path = Path(database).with_name(Path(database).name + ".controller.lock")
        handle = path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        os.set_inheritable(handle.fileno(), False)
        self._file = handle
        return True


__all__ = ["LOCK_KEY", "FleetLease"]
