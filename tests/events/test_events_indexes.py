"""Revision events_0012 drops the request log's indexes on `(release_id, ts)`, `unit_hash` and
`session_hash` (no query needs them) from the table and, on PostgreSQL, from each of its
partitions; the rows stay and read back whole; the downgrade builds the indexes again — on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from migration_helpers import engine_at

from rampway.events.tables import request_event_rows, request_events
from rampway.store import Store, alembic_config

ROW = {"feature": "support-bot", "release_id": "support-bot@abcd1234", "arm": "baseline",
       "stream": False, "attempts": 1, "fallback_used": False, "status": "ok",
       "http_status": 200, "latency_ms": 12.5, "input_tokens": 10, "output_tokens": 20,
       "cached_tokens": 0, "cost_usd": 0.001, "refusal": False, "output_chars": 80,
       "hedged": False}
KEPT = {("feature", "ts"), ("ts",)}
DROPPED = {("release_id", "ts"), ("unit_hash",), ("session_hash",)}


def index_keys(engine: sa.Engine) -> set[tuple[str, ...]]:
    """The key columns of every index on the request log but the ids': the table's and, on
    PostgreSQL, each partition's (one set: a partition lacking an index adds nothing)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = [r[1] for r in conn.exec_driver_sql("PRAGMA index_list(request_events)")]
            keys = {tuple(r[2] for r in conn.exec_driver_sql(f"PRAGMA index_info('{name}')"))
                    for name in names}
        else:
            keys = {tuple(r[0]) for r in conn.exec_driver_sql(
                "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i "
                "JOIN pg_class t ON t.oid = i.indrelid "
                "CROSS JOIN unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE t.oid IN (SELECT relid FROM pg_partition_tree('request_events')) "
                "GROUP BY i.indexrelid")}
    return keys - {("id",)}


def partitions(engine: sa.Engine) -> int:
    if engine.dialect.name == "sqlite":
        return 0
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(
            "SELECT count(*) FROM pg_partition_tree('request_events') WHERE isleaf").scalar_one())


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database just before events_0012 holding two request rows, with the five indexes."""
    with engine_at(db_url, "rollout_0006") as engine:
        with engine.begin() as conn:
            conn.execute(sa.insert(request_events), [
                {**ROW, "id": "old_0", "ts": 1000.0, "unit_hash": "u" * 32,
                 "session_hash": "s" * 32},
                {**ROW, "id": "old_1", "ts": 1001.0, "unit_hash": None, "session_hash": None}])
        assert index_keys(engine) == KEPT | DROPPED
    yield db_url


def rows(store: Store) -> dict[str, tuple[str | None, str | None]]:
    e = request_event_rows.c
    with store.reading() as conn:
        return {r.id: (r.unit_hash, r.session_hash)
                for r in conn.execute(sa.select(e.id, e.unit_hash, e.session_hash))}


def test_upgrade_drops_the_three_indexes_and_keeps_the_rows(old_db: str) -> None:
    with Store.open(old_db) as store:
        assert index_keys(store.engine) == KEPT
        if store.engine.dialect.name == "postgresql":  # the partitions' copies went too
            assert partitions(store.engine) > 2
        assert rows(store) == {"old_0": ("u" * 32, "s" * 32), "old_1": (None, None)}


def test_the_upgrade_waits_for_a_long_query_without_stalling_writers(old_db: str) -> None:
    """A long query holds the request log when the upgrade starts. Queued for its lock the
    whole time, the upgrade would make every insert queue behind it until that query ends; it
    asks in tries of `LOCK_WAIT_S` instead, so an insert meanwhile waits one try at most, and
    the upgrade completes once the query is done."""
    import threading
    import time

    if not old_db.startswith("postgresql"):
        pytest.skip("lock queues are PostgreSQL's (SQLite's upgrade takes its write lock)")
    hold_s = 6.0
    engine = sa.create_engine(old_db)
    try:
        held, done = threading.Event(), threading.Event()

        def long_query() -> None:
            with engine.begin() as conn:
                conn.execute(sa.text("LOCK TABLE request_events IN ACCESS SHARE MODE"))
                held.set()
                time.sleep(hold_s)

        def upgrade() -> None:
            Store.open(old_db).close()
            done.set()

        holder = threading.Thread(target=long_query)
        holder.start()
        assert held.wait(10)
        migrating = threading.Thread(target=upgrade)
        migrating.start()
        time.sleep(0.8)  # the upgrade is trying for its lock now
        started = time.monotonic()
        with engine.begin() as conn:
            conn.execute(sa.insert(request_events), [{**ROW, "id": "meanwhile", "ts": 1002.0}])
        waited = time.monotonic() - started
        holder.join()
        migrating.join(60)
        assert done.is_set()
        assert waited < hold_s - 2, f"an insert waited {waited:.1f} s behind the migration"
        assert index_keys(engine) == KEPT
    finally:
        engine.dispose()


def test_downgrade_builds_the_indexes_again(old_db: str) -> None:
    with Store.open(old_db) as store:
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "rollout_0006")
        assert index_keys(store.engine) == KEPT | DROPPED
        with store.engine.connect() as conn:
            ids = sorted(conn.execute(sa.select(request_events.c.id)).scalars())
    assert ids == ["old_0", "old_1"]


def test_a_release_lookup_stops_at_the_release_start(store: Store) -> None:
    """Without the `(release_id, ts)` index a release's rows are found along `(feature, ts)`;
    `release_floor` bounds that walk by the release's publication (less a day's margin), so a
    release with few rows does not read the feature's whole history — and the requests page
    still finds the release's rows."""
    import hashlib
    import time

    from rampway.dashboard.requests_view import Filters, requests_page
    from rampway.events.tables import RELEASE_CLOCK_MARGIN_S, release_floor

    digest = hashlib.sha256(b"v1").hexdigest()
    release = f"support-bot@{digest[:8]}"
    before = time.time()
    store.publish("support-bot", digest, release, "v1", actor="ana", reason="test")
    with store.transaction() as conn:
        conn.execute(sa.insert(request_events), [
            {**ROW, "id": "req_new", "release_id": release, "ts": time.time()},
            {**ROW, "id": "req_far", "release_id": release,  # older than the release: imported
             "ts": before - 2 * RELEASE_CLOCK_MARGIN_S}])
    with store.reading() as conn:
        floor = release_floor(conn, release)
        assert before - RELEASE_CLOCK_MARGIN_S - 5 <= floor <= time.time() - RELEASE_CLOCK_MARGIN_S
        assert release_floor(conn, "support-bot@unknown0") == 0.0
    page = requests_page(store, Filters.parse({"release": release}))
    assert [r["id"] for r in page["requests"]] == ["req_new"]
