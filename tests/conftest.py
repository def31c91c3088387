"""Shared fixtures: `db_url` (every database rampway supports) and `store` (opened on it).

`db_url` runs a test twice: on a fresh SQLite file and on an empty PostgreSQL database at
127.0.0.1:5432 (emptied afterwards and reused, see `_PgDatabases`). PostgreSQL being down is a
test *failure*, not a silent skip — set RAMPWAY_SKIP_PG=1 to skip those params deliberately
(e.g. on a laptop), or deselect them with `-m "not postgres"`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from rampway.store import Store


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` run first, the longest first (`slow(seconds=N)`, N measured on this
    2-core machine under load): with `-n 2`, a minutes-long test (the demo, the A/A
    simulations, the browser) started last kept one core busy alone at the end of the run."""

    def order(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        return float("inf") if slow is None else -float(slow.kwargs.get("seconds", 0))

    items.sort(key=order)


PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL_TEMPLATE = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the admin database, or fail/skip as the env says."""
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL at 127.0.0.1:5432 is unreachable: {str(exc).strip()}"
        if os.environ.get("RAMPWAY_SKIP_PG") == "1":
            pytest.skip(message + " (RAMPWAY_SKIP_PG=1)")
        pytest.fail(message + " — start it, or set RAMPWAY_SKIP_PG=1 to skip postgres tests")


class _PgDatabases:
    """Empty PostgreSQL databases for tests, reused instead of dropped.

    `DROP DATABASE` forces an immediate checkpoint on PostgreSQL 15 (every dirty buffer of
    the cluster flushed and fsynced), which under the suite's concurrent writers took 4-8 s a
    test. A database a test is done with is emptied instead — its sessions ended, every
    non-system schema dropped, `public` created again — which leaves it as `CREATE DATABASE`
    made it, and the next test gets it. The few databases a worker made are dropped when the
    session ends.
    """

    def __init__(self) -> None:
        self.free: list[str] = []
        self.made: list[str] = []

    def acquire(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"rampway_test_{uuid.uuid4().hex[:16]}"
        with _pg_admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.made.append(name)
        return name

    def release(self, name: str) -> None:
        try:
            _empty_database(name)
        except psycopg.Error:
            # Not emptied: never hand it to another test. Drop it now (the checkpoint is rare).
            self.made.remove(name)
            _drop_database(name)
            return
        self.free.append(name)

    def drop_all(self) -> None:
        for name in self.made:
            _drop_database(name)
        self.made.clear()
        self.free.clear()


def _empty_database(name: str) -> None:
    """End every session on `name`, then drop its schemas and database-level settings."""
    with _pg_admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()", (name,),
        )
        admin.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(name)))
    dsn = PG_ADMIN_DSN.replace("dbname=test", f"dbname={name}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")  # a terminated session still releasing
        schemas = [row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
            " AND nspname <> 'information_schema'"
        )]
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")


def _drop_database(name: str) -> None:
    with _pg_admin() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def _pg_databases() -> Iterator[_PgDatabases]:
    databases = _PgDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture
def pg_database_url(_pg_databases: _PgDatabases) -> Iterator[str]:
    """An empty PostgreSQL database for one test (no table, no session of another test)."""
    name = _pg_databases.acquire()
    try:
        yield PG_URL_TEMPLATE.format(name=name)
    finally:
        _pg_databases.release(name)


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database, once per supported backend."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()  # the store refuses a URL into a missing directory
        yield f"sqlite:///{tmp_path / 'db' / 'rampway.db'}"
    else:
        yield request.getfixturevalue("pg_database_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated `Store` on `db_url`, closed after the test."""
    opened = Store.open(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def chdb_events(tmp_path: Path) -> Iterator[object]:
    """The embedded ClickHouse engine (chdb) as the event log, migrated, in a fresh directory;
    closed afterwards (chdb holds one directory per process at a time)."""
    from rampway.events.clickhouse import parse_events_url
    from rampway.events.clickhouse.store import ClickHouseEvents

    with ClickHouseEvents.open(parse_events_url(f"chdb://{tmp_path / 'events'}")) as events:
        yield events
