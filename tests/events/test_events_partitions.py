"""The event tables' daily partitions on PostgreSQL (`rampway.events.partitions`): the migration
of a populated store, inserts across day boundaries, duplicate ids, retention dropping whole
days instead of deleting rows, and its protections. SQLite keeps plain tables."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from test_events_retention import start_rollout
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.errors import StoreError
from rampway.events import EventWriter, FeedbackEvent, RequestEvent
from rampway.events import partitions as parts
from rampway.events.retention import DAY, RetentionJob, job_for, prune
from rampway.events.sink import SqlEventSink
from rampway.events.tables import (
    event_shapes,
    feedback_events,
    request_event_rows,
    request_events,
)
from rampway.store import Store, alembic_config, current_revisions, head_revisions, parse_url

pytestmark = pytest.mark.postgres

FEATURE = "support-bot"
#: A UTC noon 40 days ago: the tests' days are before the migration's first day partition,
#: so they drop the (empty) legacy partitions and create the past days they need.
NOON = parts.day_start(time.time()) - 40 * DAY + DAY / 2
TODAY = parts.day_start(NOON)


@pytest.fixture
def pg(pg_database_url: str) -> Iterator[Store]:
    """A migrated PostgreSQL store whose day partitions start 45 days before NOON."""
    store = Store.open(pg_database_url)
    try:
        with store.transaction() as conn:
            for table in parts.TABLES:
                conn.execute(sa.text(f"DROP TABLE {table}_legacy"))  # empty: a new store
                for day in range(-45, 1):
                    parts.create_day(conn, table, TODAY + day * DAY)
        yield store
    finally:
        store.close()


def where(store: Store, table: sa.Table = request_events) -> dict[str, str]:
    """Row id -> the partition it is stored in."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT id, tableoid::regclass::text FROM {table.name}"))
        return {str(i): str(p) for i, p in rows}


def names(store: Store, table: str = "request_events") -> list[str]:
    with store.reading() as conn:
        return [p.name for p in parts.partitions(conn, table)]


def day(offset: int) -> str:
    return parts.day_name("request_events", TODAY + offset * DAY)


# -- layout ---------------------------------------------------------------------------------------


def test_a_new_postgres_store_has_legacy_default_and_days_ahead(pg_database_url: str) -> None:
    with Store.open(pg_database_url) as store, store.reading() as conn:
        assert parts.is_partitioned(conn)
        for table in parts.TABLES:
            found = parts.partitions(conn, table)
            legacy, *days, default = found
            tomorrow = parts.day_start(time.time()) + DAY
            assert (legacy.name, legacy.start, legacy.end) == (f"{table}_legacy", None, tomorrow)
            assert default.default and default.name == f"{table}_default"
            assert [d.start for d in days] == [tomorrow + i * DAY for i in range(parts.AHEAD_DAYS)]
            assert all(d.daily and d.end == d.start + DAY for d in days)  # type: ignore[operator]


def test_sqlite_keeps_plain_tables(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'rampway.db'}") as store:
        with store.reading() as conn:
            assert not parts.is_partitioned(conn)
        assert job_for(store, None) is None
        job = RetentionJob(store, None)
        assert job.ensure_partitions() == [] and job.maybe_run() is None
        SqlEventSink(store).write([RequestEvent(id="r", ts=1.0, feature=FEATURE)], [])
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
            conn.execute(sa.insert(request_events).values(
                id="r", ts=5 * DAY, feature=FEATURE, stream=False, attempts=0,
                fallback_used=False, status="ok", http_status=200,
                latency_ms=0.0, input_tokens=0, output_tokens=0, cached_tokens=0,
                cost_usd=0.0, refusal=False, output_chars=0))


# -- writes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("copy", [True, False])
def test_inserts_across_a_day_boundary_land_in_their_days(pg: Store, copy: bool) -> None:
    midnight = TODAY
    stamps = {"before": midnight - 0.001, "at": midnight, "after": midnight + 0.001,
              "late": midnight + DAY - 1e-6}
    SqlEventSink(pg, copy=copy).write(
        [RequestEvent(id=k, ts=ts, feature=FEATURE) for k, ts in stamps.items()],
        [FeedbackEvent(id=f"fb_{k}", ts=ts, name="n", value=1.0) for k, ts in stamps.items()])
    assert where(pg) == {"before": day(-1), "at": day(0), "after": day(0), "late": day(0)}
    fb_day = parts.day_name("feedback_events", TODAY)
    assert where(pg, feedback_events)["fb_at"] == fb_day


@pytest.mark.parametrize("copy", [True, False])
def test_a_duplicate_id_is_still_refused_and_dead_lettered(pg: Store, copy: bool) -> None:
    sink = SqlEventSink(pg, copy=copy)
    sink.write([RequestEvent(id="req_dup", ts=NOON, feature=FEATURE)],
               [FeedbackEvent(id="fb_dup", ts=NOON, name="n", value=1.0)])
    writer = EventWriter(sink, retry_delays=(0.0,))
    writer.emit(RequestEvent(id="req_new", ts=NOON + 1, feature=FEATURE))
    writer.emit(RequestEvent(id="req_dup", ts=NOON, feature=FEATURE))  # the batch re-sent
    writer.emit(RequestEvent(id="req_dup", ts=NOON + 3600, feature=FEATURE))  # same day
    writer.emit(FeedbackEvent(id="fb_dup", ts=NOON, name="n", value=2.0))
    writer.close()
    assert writer.stats.dropped_by == {"rejected": 3}
    with pg.engine.connect() as conn:
        rows = {r.id: r.ts for r in conn.execute(sa.select(request_events))}
        scores = [r.value for r in conn.execute(sa.select(feedback_events))]
    assert rows == {"req_dup": NOON, "req_new": NOON + 1} and scores == [1.0]


def test_the_same_id_on_another_day_is_not_seen_by_the_database(pg: Store) -> None:
    # The documented limit: uniqueness is per partition (PostgreSQL has no global index).
    # Only a re-sent event repeats an id, and it repeats its ts (the previous test).
    sink = SqlEventSink(pg)
    sink.write([RequestEvent(id="req_x", ts=NOON, feature=FEATURE)], [])
    sink.write([RequestEvent(id="req_x", ts=NOON - DAY, feature=FEATURE)], [])
    with pg.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT tableoid::regclass::text FROM request_events "
                                      "WHERE id = 'req_x' ORDER BY ts")).scalars().all()
    assert stored == [day(-1), day(0)]


def test_a_row_without_its_day_lands_in_default_and_moves_when_the_day_is_made(pg: Store) -> None:
    far = TODAY + 20 * DAY + 5
    SqlEventSink(pg).write([RequestEvent(id="ahead", ts=far, feature=FEATURE)], [])
    assert where(pg) == {"ahead": "request_events_default"}
    with pytest.raises(sa.exc.IntegrityError), pg.engine.begin() as conn:  # unique there too
        conn.execute(sa.text("INSERT INTO request_events_default SELECT * FROM "
                             "request_events_default"))
    with pg.transaction() as conn:
        created = parts.ensure_ahead(conn, far - DAY, days=2)
    assert parts.day_name("request_events", TODAY + 20 * DAY) in created
    assert where(pg) == {"ahead": parts.day_name("request_events", TODAY + 20 * DAY)}
    with pg.transaction() as conn:
        assert parts.ensure_ahead(conn, far - DAY, days=2) == []  # idempotent


def test_the_job_creates_partitions_ahead_even_without_a_retention(pg: Store) -> None:
    later = TODAY + 10 * DAY + 60
    configured = job_for(pg, None)
    assert configured is not None and configured.retention_s is None
    job = RetentionJob(pg, None, clock=lambda: later)
    assert job.maybe_run() is None and job.runs == 1
    with pg.reading() as conn:
        days = {p.start for p in parts.partitions(conn, "feedback_events")}
    assert {parts.day_start(later) + i * DAY for i in range(parts.AHEAD_DAYS + 1)} <= days


# -- retention ------------------------------------------------------------------------------------


def fill(store: Store, ages_days: list[float]) -> None:
    SqlEventSink(store).write(
        [RequestEvent(id=f"req_{i}", ts=NOON - a * DAY, feature=FEATURE)
         for i, a in enumerate(ages_days)],
        [FeedbackEvent(id=f"fb_{i}", ts=NOON - a * DAY, name="thumbs_up", value=1.0)
         for i, a in enumerate(ages_days)])


def test_retention_drops_whole_days_and_keeps_the_day_of_the_cutoff(pg: Store) -> None:
    fill(pg, [44, 35, 31, 30.25, 29, 1])  # NOON - 30 days is the cutoff: the day of 30.25 stays
    result = prune(pg, NOON - 30 * DAY)
    dropped = [p.name for p in result.dropped if p.table == "request_events"]
    assert dropped == [day(d) for d in range(-45, -30)]  # every day ending by the cutoff
    assert (result.requests, result.feedback) == (0, 0)  # no row deleted one by one
    assert set(where(pg)) == {"req_3", "req_4", "req_5"}
    assert set(where(pg, feedback_events)) == {"fb_3", "fb_4", "fb_5"}
    assert day(-31) not in names(pg) and day(-30) in names(pg)
    assert "feedback_events_p" + day(-31)[-8:] not in names(pg, "feedback_events")
    assert prune(pg, NOON - 30 * DAY).dropped == ()


def test_the_values_and_shapes_of_dropped_days_go_and_those_of_kept_days_stay(pg: Store) -> None:
    # each event written on its day, by a gateway whose clock said so, with its own value
    for i, age in enumerate([44, 35, 30.25, 1]):
        ts = NOON - age * DAY
        SqlEventSink(pg, clock=lambda ts=ts: ts).write(
            [RequestEvent(id=f"req_{i}", ts=ts, feature=FEATURE, attributes={"age": age},
                          model=f"m-{age}")], [])
    dry = prune(pg, NOON - 30 * DAY, dry_run=True)
    result = prune(pg, NOON - 30 * DAY)
    assert (dry.values, dry.shapes) == (result.values, result.shapes) == (2, 2)
    with pg.reading() as conn:
        kept = {r.id: (r.attributes, r.model) for r in conn.execute(sa.select(
            request_event_rows.c.id, request_event_rows.c.attributes, request_event_rows.c.model))}
        assert set(conn.scalars(sa.select(event_shapes.c.model))) == {"m-30.25", "m-1"}
    # the day of the cutoff is kept whole: its event (before the cutoff) keeps its value
    assert kept == {"req_2": ({"age": 30.25}, "m-30.25"), "req_3": ({"age": 1}, "m-1")}


def test_dry_run_lists_the_partitions_and_drops_nothing(pg: Store) -> None:
    fill(pg, [40, 1])
    before = names(pg)
    result = prune(pg, NOON - 30 * DAY, dry_run=True)
    assert day(-40) in [p.name for p in result.dropped] and result.dry_run
    assert names(pg) == before and len(where(pg)) == 2
    doc = result.to_json()["partitions"][0]
    assert doc["name"] == day(-45) and doc["to"].endswith("T00:00:00Z")


def test_rows_of_the_default_and_legacy_partitions_are_deleted_one_by_one(
    pg_database_url: str,
) -> None:
    with Store.open(pg_database_url) as store:  # legacy: everything before tomorrow
        now = time.time()
        SqlEventSink(store).write(
            [RequestEvent(id="old", ts=now - 40 * DAY, feature=FEATURE),
             RequestEvent(id="young", ts=now - DAY, feature=FEATURE),
             RequestEvent(id="ahead", ts=now + 30 * DAY, feature=FEATURE)], [])
        assert where(store) == {"old": "request_events_legacy",
                                "young": "request_events_legacy",
                                "ahead": "request_events_default"}
        assert prune(store, now - 30 * DAY, dry_run=True).requests == 1
        result = prune(store, now - 30 * DAY, batch=1)
        assert result.requests == 1 and result.dropped == () and result.complete
        assert set(where(store)) == {"young", "ahead"}
        # once the whole legacy partition is older than the cutoff, it is dropped whole
        result = prune(store, now + 2 * DAY)
        assert {p.name for p in result.dropped} >= {"request_events_legacy",
                                                    "feedback_events_legacy"}
        assert set(where(store)) == {"ahead"}


def test_a_partition_an_active_rollout_reads_is_kept(pg: Store) -> None:
    fill(pg, [40, 35.2, 34.5, 33, 1])
    rollout = start_rollout(pg, NOON - 33.75 * DAY)  # in day -34, which is kept whole
    result = prune(pg, NOON - 30 * DAY)
    assert result.held_by == f"rollout {rollout.ref}" and result.cutoff == NOON - 33.75 * DAY
    assert day(-34) in names(pg) and day(-35) not in names(pg)
    assert set(where(pg)) == {"req_2", "req_3", "req_4"}  # req_2: before the start, same day


def test_a_drop_waiting_for_a_lock_gives_up_and_the_next_run_finishes(pg: Store) -> None:
    fill(pg, [40, 1])
    blocker = pg.engine.connect()
    try:
        blocker.begin()
        blocker.execute(sa.text(f"LOCK TABLE {day(-40)} IN ACCESS SHARE MODE"))
        result = prune(pg, NOON - 30 * DAY)
        assert not result.complete and day(-40) in names(pg)
    finally:
        blocker.close()
    assert prune(pg, NOON - 30 * DAY).complete and day(-40) not in names(pg)


def test_cli_dry_run_shows_the_partitions_it_would_drop(
    pg: Store, pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAMPWAY_DB", pg_database_url)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "app")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "app")
    fill(pg, [40, 1])
    out = runner.invoke(app, ["events", "prune", "--older-than", "30d", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert f"would drop partition {day(-40)}" in out.stdout
    doc = json.loads(runner.invoke(app, ["events", "prune", "--older-than", "30d",
                                         "--json"]).stdout)
    assert day(-40) in [p["name"] for p in doc["partitions"]]
    assert day(-40) not in names(pg)


# -- the migration --------------------------------------------------------------------------------

OLD_ROW = {"feature": FEATURE, "source": "gateway", "protocol": "openai", "stream": False,
           "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
           "latency_ms": 12.5, "input_tokens": 10, "output_tokens": 20, "cached_tokens": 0,
           "cost_usd": 0.001, "refusal": False, "output_chars": 80, "hedged": False}


def test_migrating_a_populated_store_keeps_rows_indexes_and_uniqueness(
    pg_database_url: str,
) -> None:
    engine = sa.create_engine(parse_url(pg_database_url))
    now = time.time()
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "events_0008")
            old = sa.Table("request_events", sa.MetaData(), autoload_with=conn)
            conn.execute(sa.insert(old), [{**OLD_ROW, "id": f"old_{i}", "ts": now - i * 3600}
                                          for i in range(500)])
            conn.execute(sa.text("INSERT INTO feedback_events (id, ts, name, value) "
                                 "VALUES ('fb_old', :ts, 'n', 1)"), {"ts": now})
            before = dict(conn.execute(sa.text(
                "SELECT indexrelid, indexrelid::regclass::text FROM pg_index "
                "WHERE indrelid = 'request_events'::regclass")).all())
    finally:
        engine.dispose()
    with Store.open(pg_database_url) as store:
        assert current_revisions(store.engine) == head_revisions()
        located = where(store)
        assert len(located) == 500 and set(located.values()) == {"request_events_legacy"}
        with store.reading() as conn:
            kept = set(conn.scalars(sa.text(
                "SELECT indexrelid FROM pg_index "
                "WHERE indrelid = 'request_events_legacy'::regclass")))
            # the same index relations: adopted, not rebuilt (but those events_0012 drops)
            assert kept == {i for i, name in before.items() if name not in (
                "ix_request_events_release_ts", "ix_request_events_unit",
                "ix_request_events_session")}
            assert conn.scalar(sa.text("SELECT count(*) FROM request_events "
                                       "WHERE feature = :f AND ts > :t"),
                               {"f": FEATURE, "t": now - 10 * 3600}) == 10
        sink = SqlEventSink(store)
        with pytest.raises(StoreError, match="duplicate key"):
            sink.write([RequestEvent(id="old_7", ts=now - 7 * 3600, feature=FEATURE)], [])
        sink.write([RequestEvent(id="new", ts=now + DAY, feature=FEATURE)],
                   [FeedbackEvent(id="fb_new", ts=now + DAY, name="n", value=1.0)])
        assert where(store)["new"] == parts.day_name("request_events",
                                                     parts.day_start(now + DAY))
        with store.transaction() as conn:  # and back: a plain table with every row
            command.downgrade(alembic_config(conn), "events_0008")
        with store.reading() as conn:
            assert not parts.is_partitioned(conn)
            assert conn.scalar(sa.text("SELECT count(*) FROM request_events")) == 501
            assert conn.scalar(sa.text("SELECT count(*) FROM feedback_events")) == 2
