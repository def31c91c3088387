"""Shared fixtures: `db_url` (every database rampway supports) and `store` (opened on it).

`db_url` runs a test twice: on a fresh SQLite file and on a fresh, uniquely named PostgreSQL
database at 127.0.0.1:5432 (dropped afterwards). PostgreSQL being down is a test *failure*, not
a silent skip — set RAMPWAY_SKIP_PG=1 to skip those params deliberately (e.g. on a laptop), or
deselect them with `-m "not postgres"`.
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


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh empty PostgreSQL database for one test; dropped (forcefully) afterwards."""
    name = f"rampway_test_{uuid.uuid4().hex[:16]}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PG_URL_TEMPLATE.format(name=name)
    finally:
        with _pg_admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


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
