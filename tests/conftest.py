"""Shared fixtures: `db_url` (every database rampway supports) and `store` (opened on it).

`db_url` runs a test twice: on a fresh SQLite file and on an empty PostgreSQL database at
127.0.0.1:5432 (emptied afterwards and reused, see `_PgDatabases`). PostgreSQL being down is a
test *failure*, not a silent skip — set RAMPWAY_SKIP_PG=1 to skip those params deliberately
(e.g. on a laptop), or deselect them with `-m "not postgres"`.

`store` gives the database migrated to head, as `Store.open` leaves a new one, but copied from a
template the worker migrated once (per day: migrations create the day's event partitions)
instead of running the ~30 migrations again: 2-7 s a test on PostgreSQL under the suite's
load, 0.4 s of CPU on SQLite, over 600 tests. The migrations themselves are still run on an
empty database by every test that asks for `db_url` alone (tests/store, tests/events, …).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rampway.store import Store


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselected theirs: the count must be final
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` run first, the longest first (`slow(seconds=N)`, N measured on this
    2-core machine under load): with `-n 2`, a minutes-long test (the demo, the A/A
    simulations, the browser) started last kept one core busy alone at the end of the run.

    Under xdist's `worksteal` (`make test` asks for it) worker i is first handed the i-th of n
    equal consecutive blocks of this order, and a worker that runs out steals the back half of
    another's queue. So the slow tests are shared out between the blocks, longest first onto
    the least loaded (before, `-n 2`'s first block held all of them: ~17 min of one core's
    time behind the demo while the other core ran everything else).
    """

    def seconds(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        return -1.0 if slow is None else float(slow.kwargs.get("seconds", _SLOW_UNMEASURED_S))

    items.sort(key=lambda item: -seconds(item))  # stable: files keep their order otherwise
    worker = getattr(config, "workerinput", {})
    workers = int(worker.get("workercount", 1))
    if workers < 2 or worker.get("dist") != "worksteal" or len(items) < 2 * workers:
        return
    slow = [item for item in items if seconds(item) >= 0]
    rest = items[len(slow):]
    blocks: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for item in slow:
        least = loads.index(min(loads))
        blocks[least].append(item)
        loads[least] += seconds(item)
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for i, block in enumerate(blocks):
        size = remaining // (workers - i)  # as xdist's WorkStealingScheduling splits it
        fill = max(0, size - len(block))
        ordered += block + rest[:fill]
        rest = rest[fill:]
        remaining -= size
    items[:] = ordered + rest


# `slow` without seconds: tests of a few seconds to a minute (fuzzers, servers, browsers)
_SLOW_UNMEASURED_S = 30.0


def pytest_configure_node(node: Any) -> None:
    """(xdist, in the controller) Tell each worker how tests are handed out: a worker's own
    `--dist` reads "no"."""
    node.workerinput["dist"] = node.config.option.dist


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
    """PostgreSQL databases for tests, reused instead of dropped: empty ones and migrated ones.

    `DROP DATABASE` forces an immediate checkpoint on PostgreSQL 15 (every dirty buffer of
    the cluster flushed and fsynced), which under the suite's concurrent writers took 4-8 s a
    test. A database a test is done with is emptied instead — its sessions ended, every
    non-system schema dropped, `public` created again — which leaves it as `CREATE DATABASE`
    made it, and the next test gets it. The few databases a worker made are dropped when the
    session ends.

    A migrated database (for `store`) is made once by `CREATE DATABASE … TEMPLATE` from the
    worker's migrated template (a file copy, no checkpoint with PostgreSQL 15's WAL_LOG
    strategy) and afterwards put back as the template left it: when its schema is still the
    template's (`_schema_fingerprint`: every relation, column, index, constraint, function,
    trigger, type, the Alembic revision, and no planner statistics yet), the tables the test
    wrote to are truncated and the migrations' own rows and sequence positions restored
    (~0.3 s, instead of 2-7 s of migrating an empty one); a test that changed the schema (a
    downgrade, a new partition) or analyzed a table leaves it to be emptied.
    """

    def __init__(self) -> None:
        self.free: list[str] = []
        self.made: list[str] = []
        self.migrated_free: list[str] = []
        self.template: _PgTemplate | None = None

    def acquire(self) -> str:
        if self.free:
            return self.free.pop()
        return self._create()

    def acquire_migrated(self) -> str:
        template = self._template()
        if self.migrated_free:
            return self.migrated_free.pop()
        return self._create(template=template.name)

    def _create(self, template: str | None = None) -> str:
        name = f"rampway_test_{uuid.uuid4().hex[:16]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {} STRATEGY WAL_LOG").format(sql.Identifier(template))
        with _pg_admin() as admin:
            admin.execute(statement)
        self.made.append(name)
        return name

    def _template(self) -> _PgTemplate:
        """The worker's migrated template, made again when the day changed (partitions)."""
        if self.template is not None and self.template.day == _utc_day():
            return self.template
        if self.template is not None:  # yesterday's template and copies: emptied, not reused
            for name in [*self.migrated_free, self.template.name]:
                self.release(name)
            self.migrated_free.clear()
        name = self.acquire()
        Store.open(PG_URL_TEMPLATE.format(name=name)).close()
        with _pg_connect(name) as conn:
            self.template = _PgTemplate(
                name=name, day=_utc_day(), fingerprint=_schema_fingerprint(conn),
                rows=_table_rows(conn), sequences=_sequence_positions(conn),
            )
        return self.template

    def release(self, name: str) -> None:
        try:
            _empty_database(name)
        except psycopg.Error:
            # Not emptied: never hand it to another test. Drop it now (the checkpoint is rare).
            self.made.remove(name)
            _drop_database(name)
            return
        self.free.append(name)

    def release_migrated(self, name: str) -> None:
        template = self.template
        try:
            if template is not None and _reset_to_template(name, template):
                self.migrated_free.append(name)
                return
        except psycopg.Error:
            pass  # emptied instead, as any other database
        self.release(name)

    def drop_all(self) -> None:
        for name in self.made:
            _drop_database(name)
        self.made.clear()
        self.free.clear()
        self.migrated_free.clear()


@dataclass(frozen=True)
class _PgTemplate:
    """A database migrated to head, and what a copy of it must look like to be reused."""

    name: str
    day: int
    fingerprint: str
    rows: dict[str, bytes]  # the migrations' own rows, as COPY text, by table
    sequences: dict[str, tuple[int, bool]]  # sequence -> (last_value, is_called)


def _utc_day() -> int:
    return int(time.time() // 86400)


def _pg_connect(name: str) -> psycopg.Connection[tuple[object, ...]]:
    dsn = PG_ADMIN_DSN.replace("dbname=test", f"dbname={name}")
    return psycopg.connect(dsn, autocommit=True)


_USER_NAMESPACES = ("SELECT oid FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                    " AND nspname <> 'information_schema'")

_SCHEMA_FINGERPRINT = f"""
SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
  SELECT concat_ws(' ', 'rel', c.oid::regclass, c.relkind, c.relpersistence, c.relacl,
                   pg_get_expr(c.relpartbound, c.oid)) AS line
    FROM pg_class c WHERE c.relnamespace IN ({_USER_NAMESPACES})
  UNION ALL
  SELECT concat_ws(' ', 'col', a.attrelid::regclass, a.attnum, a.attname,
                   format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                   a.attgenerated, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace IN ({_USER_NAMESPACES}) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT concat_ws(' ', 'idx', pg_get_indexdef(i.indexrelid)) FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace IN ({_USER_NAMESPACES})
  UNION ALL
  SELECT concat_ws(' ', 'con', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace IN ({_USER_NAMESPACES})
  UNION ALL
  SELECT concat_ws(' ', 'fn', oid::regprocedure, md5(prosrc)) FROM pg_proc
   WHERE pronamespace IN ({_USER_NAMESPACES})
  UNION ALL
  SELECT concat_ws(' ', 'trg', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT concat_ws(' ', 'typ', t.oid::regtype, t.typtype,
                   (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum
                     WHERE enumtypid = t.oid))
    FROM pg_type t WHERE t.typnamespace IN ({_USER_NAMESPACES})
  UNION ALL
  SELECT concat_ws(' ', 'rule', r.rulename, r.ev_class::regclass) FROM pg_rewrite r
    JOIN pg_class c ON c.oid = r.ev_class
   WHERE c.relnamespace IN ({_USER_NAMESPACES}) AND c.relkind <> 'v'
  UNION ALL
  SELECT concat_ws(' ', 'view', c.oid::regclass, pg_get_viewdef(c.oid)) FROM pg_class c
   WHERE c.relnamespace IN ({_USER_NAMESPACES}) AND c.relkind IN ('v', 'm')
  UNION ALL
  SELECT concat_ws(' ', 'pol', polname, polrelid::regclass) FROM pg_policy
  UNION ALL
  SELECT concat_ws(' ', 'ext', extname, extversion) FROM pg_extension
  UNION ALL
  SELECT concat_ws(' ', 'ns', nspname) FROM pg_namespace WHERE oid IN ({_USER_NAMESPACES})
  UNION ALL
  SELECT DISTINCT concat_ws(' ', 'stats', s.starelid::regclass) FROM pg_statistic s
    JOIN pg_class c ON c.oid = s.starelid WHERE c.relnamespace IN ({_USER_NAMESPACES})
) AS schema_lines
"""


def _schema_fingerprint(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """A digest of the database's schema, and of its Alembic revision(s)."""
    row = conn.execute(_SCHEMA_FINGERPRINT).fetchone()
    versions = conn.execute("SELECT string_agg(version_num, ',' ORDER BY version_num)"
                            " FROM alembic_version").fetchone()
    return f"{row[0] if row else None}/{versions[0] if versions else None}"


def _plain_tables(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Every table holding rows (partitions included; not partitioned parents), qualified."""
    return [str(row[0]) for row in conn.execute(
        f"SELECT oid::regclass::text FROM pg_class WHERE relkind = 'r'"
        f" AND relnamespace IN ({_USER_NAMESPACES}) ORDER BY 1"
    )]


def _table_rows(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, bytes]:
    rows = {}
    for table in _plain_tables(conn):
        with conn.cursor().copy(f"COPY {table} TO STDOUT") as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        if data:
            rows[table] = data
    return rows


def _sequence_positions(
    conn: psycopg.Connection[tuple[object, ...]],
) -> dict[str, tuple[int, bool]]:
    positions = {}
    for (name,) in conn.execute(
        f"SELECT oid::regclass::text FROM pg_class WHERE relkind = 'S'"
        f" AND relnamespace IN ({_USER_NAMESPACES})"
    ).fetchall():
        row = conn.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
        assert row is not None
        positions[str(name)] = (int(str(row[0])), bool(row[1]))
    return positions


def _reset_to_template(name: str, template: _PgTemplate) -> bool:
    """Put a copy of the template back as it was made; False when its schema changed.

    Only the tables the test wrote to are truncated (truncating all ~50 took 1.3-1.7 s): those
    holding rows or whose size PostgreSQL has counted (`TRUNCATE` makes that "never counted"
    again, as in a new table: `experiments.bracket` reads the estimate).
    """
    _end_sessions(name)
    with _pg_connect(name) as conn:
        conn.execute("SET lock_timeout = '20s'")  # a terminated session still releasing
        if _schema_fingerprint(conn) != template.fingerprint:
            return False
        tables = [t for t in _plain_tables(conn) if t != "alembic_version"]
        written = [str(row[0]) for row in conn.execute(" UNION ALL ".join(
            f"SELECT '{table}' FROM pg_class WHERE oid = '{table}'::regclass"
            f" AND (reltuples >= 0 OR relpages > 0 OR EXISTS (SELECT FROM {table}))"
            for table in tables
        ))]
        with conn.transaction():
            if written:
                conn.execute(f"TRUNCATE {', '.join(written)} RESTART IDENTITY CASCADE")
            for table, data in template.rows.items():
                if table in written:
                    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                        copy.write(data)
            for sequence, (last_value, is_called) in template.sequences.items():
                conn.execute("SELECT setval(%s, %s, %s)", (sequence, last_value, is_called))
        return True


def _end_sessions(name: str) -> None:
    with _pg_admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()", (name,),
        )
        admin.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(name)))


def _empty_database(name: str) -> None:
    """End every session on `name`, then drop its schemas and database-level settings."""
    _end_sessions(name)
    with _pg_connect(name) as conn:
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
    """A URL of an empty database, once per supported backend (one already migrated from the
    worker's template when the test's first use of it would migrate it, see `store`)."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()  # the store refuses a URL into a missing directory
        if _first_use_migrates(request):
            request.getfixturevalue("_sqlite_template").copy_to(tmp_path / "db" / "rampway.db")
        yield f"sqlite:///{tmp_path / 'db' / 'rampway.db'}"
    elif _first_use_migrates(request):
        databases: _PgDatabases = request.getfixturevalue("_pg_databases")
        name = databases.acquire_migrated()
        try:
            yield PG_URL_TEMPLATE.format(name=name)
        finally:
            databases.release_migrated(name)
    else:
        yield request.getfixturevalue("pg_database_url")


def _first_use_migrates(request: pytest.FixtureRequest) -> bool:
    """Whether the first use of the test's database is migrating it to head: every fixture of
    the test that takes `db_url` is this file's `store` or one marked `first_use_migrates`
    (tests/gateway/gateway_helpers.py: `make_project` opens the store before anything else).
    Any other (it might open the store some other way first: a CLI's `publish`, an old
    revision's migrations) keeps the database empty."""
    fixtures = request.node._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    takers = [defs[-1].func for name, defs in fixtures.items()
              if name != "db_url" and "db_url" in defs[-1].argnames]
    return bool(takers) and all(
        (func.__name__ == "store" and func.__globals__ is globals())
        or getattr(func, "first_use_migrates", False)
        for func in takers
    )


class _SqliteTemplate:
    """A SQLite file migrated to head once a day (partitions are by day), copied for `store`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.day: int | None = None

    def copy_to(self, path: Path) -> None:
        template = self.directory / f"{_utc_day()}.db"
        if self.day != _utc_day():
            Store.open(f"sqlite:///{template}").close()
            # closed cleanly, the file is the whole database (no -wal or -journal beside it)
            assert not list(self.directory.glob(f"{template.name}-*"))
            self.day = _utc_day()
        shutil.copyfile(template, path)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> _SqliteTemplate:
    return _SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def store(db_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated `Store` on `db_url`, closed after the test.

    A database nothing has touched yet is copied from the worker's migrated template (mostly
    `db_url` handed out a copy already) instead of being migrated: the same schema and rows,
    made by the same migrations once per worker and day.
    """
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        if not path.exists():
            request.getfixturevalue("_sqlite_template").copy_to(path)
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
