"""Retention of the values (`event_values`) and shapes (`event_shapes`) request events reference
(`rampway.events.dimensions`): those only expired events used go, those still used stay and read
back the same, and a gateway writing meanwhile — from its memo or in a batch under way — never
references a deleted row; the `events_prune_0001` migration both ways — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
import sqlalchemy as sa
from alembic import command
from migration_helpers import engine_at

from rampway.events import RequestEvent
from rampway.events.dimensions import GRACE_S, delete_batch, horizon, prune_unused
from rampway.events.retention import DAY, prune
from rampway.events.sink import SqlEventSink
from rampway.events.tables import (
    SHAPE_FIELDS,
    event_shapes,
    event_values,
    request_event_rows,
    request_events,
)
from rampway.events.values import REFRESH_S
from rampway.store import Store, alembic_config

NOW = 1_790_000_000.0  # 2026-09-21
OLD = NOW - 100 * DAY
RECENT = NOW - 1 * DAY
CUTOFF = NOW - 30 * DAY
SHARED = {"plan": "pro"}
FLAGS = {"f.model": {"value": "sim-large", "reason": "DEFAULT", "rule": None}}


def at(ts: float) -> Callable[[], float]:
    return lambda: ts


def request(rid: str, ts: float, *, model: str, attributes: dict[str, Any] | None = None,
            flags: dict[str, Any] | None = None) -> RequestEvent:
    return RequestEvent(id=rid, ts=ts, feature="f", model=model, served_model=f"{model}-0611",
                        system_fingerprint=f"fp_{model}", attributes=attributes, flags=flags)


def rows(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored request event, each field as readers get it."""
    with store.reading() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(sa.select(request_event_rows))}


def dangling(store: Store) -> list[tuple[str, str]]:
    """(event id, column) of every reference to a value or shape that does not exist."""
    e = request_events
    found = []
    with store.reading() as conn:
        for column, table in (("attributes_id", event_values), ("flags_id", event_values),
                              ("shape_id", event_shapes)):
            ref = e.c[column]
            missing = sa.select(e.c.id).where(ref.is_not(None), ~sa.exists().where(
                table.c.id == ref))
            found += [(rid, column) for rid in conn.scalars(missing)]
    return found


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def values(store: Store) -> list[str]:
    """The stored values, canonical (PostgreSQL's JSONB orders keys its own way)."""
    with store.reading() as conn:
        return sorted(map(canonical, conn.scalars(sa.select(event_values.c.value))))


def models(store: Store) -> set[str | None]:
    with store.reading() as conn:
        return set(conn.scalars(sa.select(event_shapes.c.model)))


def test_values_and_shapes_only_expired_events_used_go_and_the_rest_read_back_the_same(
        store: Store) -> None:
    SqlEventSink(store, clock=at(OLD)).write([
        request("o1", OLD, model="m-v1", attributes={"deploy": "v1"}, flags=FLAGS),
        request("o2", OLD, model="m-shared", attributes=SHARED),
    ], [])
    SqlEventSink(store, clock=at(RECENT)).write([  # another process, a day ago
        request("n1", RECENT, model="m-shared", attributes=SHARED, flags=FLAGS),
        request("n2", RECENT, model="m-v2", attributes={"deploy": "v2"}),
    ], [])
    before = rows(store)
    dry = prune(store, CUTOFF, dry_run=True)
    assert (dry.requests, dry.values, dry.shapes) == (2, 1, 1) and rows(store) == before

    result = prune(store, CUTOFF, batch=1)
    assert (result.requests, result.values, result.shapes, result.complete) == (2, 1, 1, True)
    assert result.to_json()["values"] == 1 and result.to_json()["shapes"] == 1
    assert rows(store) == {rid: before[rid] for rid in ("n1", "n2")}
    assert values(store) == sorted(map(canonical, [SHARED, FLAGS, {"deploy": "v2"}]))
    assert models(store) == {"m-shared", "m-v2"} and dangling(store) == []
    assert prune(store, CUTOFF).values == 0  # nothing more to delete


def test_events_a_stopped_retention_left_behind_keep_their_values(store: Store) -> None:
    SqlEventSink(store, clock=at(OLD)).write(
        [request(f"o{i}", OLD + i, model=f"m{i}", attributes={"i": i}) for i in range(3)], [])
    ticks = iter(range(1000))
    # the deadline passes after the first batch of events: two old ones are still stored
    result = prune(store, CUTOFF, batch=1, deadline=0, clock=lambda: next(ticks))
    assert not result.complete and result.requests == 1
    assert (result.values, result.shapes) == (0, 0) and dangling(store) == []
    left = {rid: (row["attributes"], row["model"]) for rid, row in rows(store).items()}
    assert len(left) == 2
    assert all(got == ({"i": int(rid[1:])}, f"m{rid[1:]}") for rid, got in left.items())


def test_a_sinks_memo_never_hands_out_an_id_retention_deleted(store: Store) -> None:
    clock = [OLD]
    sink = SqlEventSink(store, clock=lambda: clock[0])
    sink.write([request("o1", OLD, model="m", attributes=SHARED, flags=FLAGS)], [])
    result = prune(store, CUTOFF)
    assert (result.requests, result.values, result.shapes) == (1, 2, 1)
    assert values(store) == [] and models(store) == set()
    # the same process, still up, writes the same value and shape again: its memo holds their
    # ids, but is older than REFRESH_S, so it finds (and adds back) the rows instead
    clock[0] = NOW
    sink.write([request("n1", NOW, model="m", attributes=SHARED, flags=FLAGS)], [])
    got = rows(store)["n1"]
    assert (got["attributes"], got["flags"], got["model"]) == (SHARED, FLAGS, "m")
    assert dangling(store) == []


def test_the_memo_is_used_without_the_database_for_refresh_s(store: Store) -> None:
    # within REFRESH_S a value's row is not touched again: its last_used stays the first batch's
    clock = [RECENT]
    sink = SqlEventSink(store, clock=lambda: clock[0])
    sink.write([request("a", RECENT, model="m", attributes=SHARED)], [])
    clock[0] = RECENT + REFRESH_S - 1
    sink.write([request("b", clock[0], model="m", attributes=SHARED)], [])
    with store.reading() as conn:
        assert set(conn.scalars(sa.select(event_values.c.last_used))) == {RECENT}
    clock[0] = RECENT + REFRESH_S + 1
    sink.write([request("c", clock[0], model="m", attributes=SHARED)], [])
    with store.reading() as conn:
        assert set(conn.scalars(sa.select(event_values.c.last_used))) == {clock[0]}
        assert set(conn.scalars(sa.select(event_shapes.c.last_used))) == {clock[0]}


class PausedStore:
    """The store, but each write transaction waits for `go` after its statements and before it
    commits (`written` is set then): a sink's batch caught between its rows and its commit."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self._store = store
        self.written, self.go = threading.Event(), threading.Event()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self._store.transaction() as conn:
            yield conn
            self.written.set()
            self.go.wait(30)


def expired_value(store: Store) -> None:
    """SHARED and model `m` stored long ago; the event that used them deleted by retention."""
    SqlEventSink(store, clock=at(OLD)).write([request("o1", OLD, model="m", attributes=SHARED)],
                                             [])
    with store.transaction() as conn:
        conn.execute(request_events.delete())


def test_a_batch_under_way_keeps_the_rows_it_found_from_a_concurrent_prune(store: Store) -> None:
    expired_value(store)
    paused = PausedStore(store)
    sink = SqlEventSink(cast("Store", paused), clock=at(NOW))
    writer = threading.Thread(target=sink.write, args=(
        [request("n1", NOW, model="m", attributes=SHARED)], []))
    writer.start()
    # the batch found SHARED and `m` in the database, wrote its row, and has not committed
    assert paused.written.wait(30)
    pruned: list[Any] = []
    pruner = threading.Thread(target=lambda: pruned.append(prune_unused(store, CUTOFF)))
    pruner.start()
    pruner.join(0.5)  # PostgreSQL: passes over the locked rows; SQLite: waits for the lock
    paused.go.set()
    writer.join(30)
    pruner.join(30)
    assert not pruner.is_alive() and (pruned[0].values, pruned[0].shapes) == (0, 0)
    got = rows(store)["n1"]
    assert (got["attributes"], got["model"]) == (SHARED, "m") and dangling(store) == []


def test_a_batch_meeting_a_prune_under_way_adds_the_value_back(store: Store) -> None:
    expired_value(store)
    written: list[BaseException | None] = []

    def write() -> None:
        try:
            SqlEventSink(store, clock=at(NOW)).write(
                [request("n1", NOW, model="m", attributes=SHARED)], [])
            written.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            written.append(exc)

    with store.transaction() as conn:
        line = horizon(conn, CUTOFF)
        assert delete_batch(conn, event_values, line, 10) == 1
        assert delete_batch(conn, event_shapes, line, 10) == 1
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)  # waits for the prune's commit (PostgreSQL: on the digest's index entry)
    writer.join(30)
    assert written == [None]
    got = rows(store)["n1"]
    assert (got["attributes"], got["model"]) == (SHARED, "m") and dangling(store) == []


def test_rows_from_a_gateway_older_than_last_used_are_stamped_then_pruned_a_retention_later(
        store: Store) -> None:
    with store.transaction() as conn:  # as a sink before events_prune_0001 adds them
        conn.execute(event_values.insert().values(digest="d" * 32, value={"v": 1}))
    assert prune_unused(store, CUTOFF, now=at(NOW)).values == 0
    with store.reading() as conn:
        assert conn.scalar(sa.select(event_values.c.last_used)) == NOW
    later = NOW + REFRESH_S + GRACE_S + 30 * DAY + 1
    assert prune_unused(store, later, now=at(later)).values == 1


def test_a_dry_run_counts_what_a_run_would_delete(store: Store) -> None:
    SqlEventSink(store, clock=at(OLD)).write(
        [request(f"o{i}", OLD, model=f"m{i}", attributes={"i": i}) for i in range(3)], [])
    dry = prune(store, CUTOFF, dry_run=True)  # as if their events were gone already
    assert (dry.values, dry.shapes) == (3, 3)
    assert len(values(store)) == 3
    assert (prune(store, CUTOFF).values, len(values(store))) == (3, 0)


# -- the migration ---------------------------------------------------------------------------


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database at events_0011 holding a value, a shape and an event using both."""
    with engine_at(db_url, "events_0011") as engine:
        meta = sa.MetaData()
        old_values = sa.Table("event_values", meta, autoload_with=engine)
        old_shapes = sa.Table("event_shapes", meta, autoload_with=engine)
        old_events = sa.Table("request_events", meta, autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(old_values).values(id=1, digest="a" * 32, value=SHARED))
            conn.execute(sa.insert(old_shapes).values(
                id=1, digest="b" * 32, **dict.fromkeys(SHAPE_FIELDS)
                | {"source": "gateway", "protocol": "openai", "model": "m"}))
            conn.execute(sa.insert(old_events).values(
                id="old", ts=OLD, feature="f", attributes_id=1, shape_id=1, stream=False,
                attempts=1, fallback_used=False, status="ok", http_status=200,
                latency_ms=1.0, input_tokens=1, output_tokens=1, cached_tokens=0,
                cost_usd=0.0, refusal=False, output_chars=1, hedged=False))
    yield db_url


def test_upgrade_stamps_existing_rows_with_its_time_and_downgrade_drops_the_column(
        old_db: str) -> None:
    started = time.time()
    with Store.open(old_db) as store:
        with store.reading() as conn:
            stamps = [*conn.scalars(sa.select(event_values.c.last_used)),
                      *conn.scalars(sa.select(event_shapes.c.last_used))]
        assert len(stamps) == 2 and all(started <= s <= time.time() for s in stamps)
        before = rows(store)["old"]
        assert (before["attributes"], before["model"]) == (SHARED, "m")
        # the event is old, its values were just stamped: they outlive it by a retention
        assert (prune(store, time.time() - 30 * DAY).requests,
                len(values(store)), models(store)) == (1, 1, {"m"})
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "events_0011")
        inspector = sa.inspect(store.engine)
        for table in ("event_values", "event_shapes"):
            assert "last_used" not in {c["name"] for c in inspector.get_columns(table)}
            assert not any(i["name"] == f"ix_{table}_last_used"
                           for i in inspector.get_indexes(table))
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM event_values")).scalar() == 1
            assert conn.execute(sa.text("SELECT model FROM event_shapes")).scalar() == "m"
