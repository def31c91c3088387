"""The seam to SQLAlchemy: engine set-up, write transactions, and error translation.

SQLite needs care to be safe under concurrent writers. The stdlib driver starts transactions
lazily (`BEGIN DEFERRED` before the first write), so two transactions that both read and then
write can deadlock on the lock upgrade and fail at once with "database is locked". We take over
transaction control and open *write* transactions with `BEGIN IMMEDIATE`: writers queue on the
busy timeout instead, while WAL mode lets readers (gateways polling `control_version`) proceed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from rampway._sqlite import SQLITE_BUSY_TIMEOUT_S, configure
from rampway._sqlite import first_line as _first_line
from rampway.errors import ConfigError, ConflictError, StoreError

WRITE_OPTION = "rampway_write"

# PostgreSQL SQLSTATEs worth retrying the whole transaction for.
_PG_RETRYABLE = {"40001", "40P01", "23505"}  # serialization failure, deadlock, unique violation


class TransientConflict(ConflictError):
    """A write lost a race the database detected (duplicate key, deadlock); safe to retry."""


# Per process: a gateway at steady load holds 2-3 (event writer, control poll, controller
# lease); admin API and dashboard bursts borrow more, up to size + overflow.
POOL_DEFAULTS = {"pool_size": 10, "max_overflow": 20}


def create_engine(url: URL) -> Engine:
    """An engine with the per-dialect settings the store relies on."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    url, pool = _pool_options(url)
    connect_args = {} if "application_name" in url.query else {"application_name": "rampway"}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)


def _pool_options(url: URL) -> tuple[URL, dict[str, int]]:
    """`?pool_size=N&max_overflow=M` in a PostgreSQL URL size the pool (a fleet of gateways must
    fit the server's max_connections); they are rampway's, so they never reach the driver."""
    pool = dict(POOL_DEFAULTS)
    for name in POOL_DEFAULTS:
        raw = url.query.get(name)
        if raw is None:
            continue
        if not isinstance(raw, str) or not raw.isdigit() or (name == "pool_size" and raw == "0"):
            least = 1 if name == "pool_size" else 0
            raise ConfigError(f"database URL: {name} must be an integer >= {least} (got {raw!r})")
        pool[name] = int(raw)
    return url.difference_update_query(POOL_DEFAULTS), pool


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    }
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, else each one is a new db
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    configure(dbapi_connection)


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back on any error."""
    with translate_errors(), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


# The read connection `shared_reads` lends to every `read_connection` of its engine inside it.
_SHARED_READ: ContextVar[tuple[Engine, Connection] | None] = ContextVar(
    "rampway_shared_read", default=None)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for consistent reads (one transaction, never written): the one
    `shared_reads` lends when inside it, else a connection of its own."""
    shared = _SHARED_READ.get()
    if shared is not None and shared[0] is engine:
        with translate_errors():
            yield shared[1]
        return
    with translate_errors(), engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def shared_reads(engine: Engine) -> Iterator[None]:
    """Inside: every `read_connection` of `engine` in this context (thread or task) is one
    connection and one transaction.

    Something that reads in many small steps (a dashboard page: the session's key, then a dozen
    lookups) otherwise pays a checkout with its ping, BEGIN and COMMIT per step — four round
    trips for one query, each a wake-up of the server on a loaded machine. A thread started
    inside does not inherit it (a new thread starts with an empty context)."""
    shared = _SHARED_READ.get()
    if shared is not None and shared[0] is engine:
        yield
        return
    with read_connection(engine) as conn:
        token = _SHARED_READ.set((engine, conn))
        try:
            yield
        finally:
            _SHARED_READ.reset(token)


def is_retryable(error: exc.DBAPIError) -> bool:
    """True for a race another attempt can win: duplicate insert, deadlock, serialization."""
    if isinstance(error, exc.IntegrityError) and _is_sqlite(error):
        return "UNIQUE" in str(error.orig)
    return getattr(error.orig, "sqlstate", None) in _PG_RETRYABLE


def _is_sqlite(error: exc.DBAPIError) -> bool:
    return isinstance(error.orig, sqlite3.Error)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn SQLAlchemy/driver errors into the rampway tree; nothing above sees `sqlalchemy.exc`."""
    try:
        yield
    except exc.DBAPIError as error:
        if is_retryable(error):
            raise TransientConflict(f"concurrent write conflict: {_first_line(error)}") from error
        raise StoreError(f"database error: {_first_line(error)}") from error
    except exc.SQLAlchemyError as error:
        raise StoreError(f"database error: {_first_line(error)}") from error
