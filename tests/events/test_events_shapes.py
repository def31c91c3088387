"""A request's descriptive columns stored once per distinct combination (`event_shapes`,
revision events_0011): rows written before are converted and read back unchanged, the sink
and `with_shape_ids` reuse a shape's row, a rolled-back batch leaves no dangling id behind,
and the downgrade restores the columns — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from migration_helpers import engine_at

from rampway.errors import StoreError
from rampway.events import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import SHAPE_FIELDS, event_shapes, request_event_rows, request_events
from rampway.events.values import with_shape_ids
from rampway.store import Store, alembic_config

ANSWERED = {"source": "gateway", "protocol": "openai", "provider": "openai",
            "model": "gpt-4o-mini", "served_model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_0ba0d124f1", "finish_reason": "stop", "error_code": None}
FAILED = {"source": "sdk", "protocol": "sdk", "provider": "openai", "model": "gpt-4o-mini",
          "served_model": None, "system_fingerprint": None, "finish_reason": None,
          "error_code": "timeout"}
LOCAL = dict.fromkeys(SHAPE_FIELDS) | {"source": "gateway", "protocol": "anthropic"}
OLD = {"old_0": ANSWERED, "old_1": FAILED, "old_2": ANSWERED, "old_3": LOCAL}
ROW = {"feature": "f", "stream": False, "attempts": 1, "fallback_used": False, "status": "ok",
       "http_status": 200, "latency_ms": 1.0, "input_tokens": 1, "output_tokens": 1,
       "cached_tokens": 0, "cost_usd": 0.0, "refusal": False, "output_chars": 1,
       "hedged": False}


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database at events_0010 holding rows with their shapes in columns (NULLs in some)."""
    with engine_at(db_url, "events_0010") as engine:
        old = sa.Table("request_events", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            for i, (rid, shape) in enumerate(OLD.items()):
                conn.execute(sa.insert(old).values(id=rid, ts=1000.0 + i, **ROW, **shape))
    yield db_url


def shapes(store: Store) -> dict[str, dict[str, Any]]:
    """Each request's SHAPE_FIELDS as `request_event_rows` reads them."""
    e = request_event_rows.c
    with store.reading() as conn:
        rows = conn.execute(sa.select(e.id, *(e[name] for name in SHAPE_FIELDS)))
        return {r.id: {name: r._mapping[name] for name in SHAPE_FIELDS} for r in rows}


def count(store: Store) -> int:
    with store.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(event_shapes)).scalar_one())


def event(rid: str, ts: float, shape: dict[str, Any]) -> RequestEvent:
    return RequestEvent(id=rid, ts=ts, feature="f", **shape)


def test_upgrade_converts_the_rows_shapes_and_reads_them_back(old_db: str) -> None:
    with Store.open(old_db) as store:
        assert shapes(store) == OLD
        assert count(store) == 3  # ANSWERED once
        with store.reading() as conn:
            ids = dict(conn.execute(
                sa.select(request_events.c.id, request_events.c.shape_id)).all())
        assert ids["old_0"] == ids["old_2"] and len({*ids.values()}) == 3
        # the sink finds the converted rows' shapes under its own digest: it adds none
        SqlEventSink(store).write([event("new", 2000.0, ANSWERED), event("new2", 2001.0, LOCAL)],
                                  [])
        assert count(store) == 3 and shapes(store)["new"] == ANSWERED


def test_the_sink_stores_each_distinct_shape_once(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([event(f"a{i}", float(i), ANSWERED if i % 2 else FAILED) for i in range(10)], [])
    sink.write([event("b", 20.0, ANSWERED)], [])
    SqlEventSink(store).write([event("c", 21.0, FAILED)], [])  # another process
    with store.transaction() as conn:  # plain dicts, as benches and tests insert them
        conn.execute(request_events.insert(),
                     with_shape_ids(conn, [{"id": "d", "ts": 22.0, **ROW, **ANSWERED}]))
    got = shapes(store)
    assert got["a1"] == got["b"] == got["d"] == ANSWERED and got["a2"] == got["c"] == FAILED
    assert count(store) == 2


def test_a_rolled_back_batch_leaves_the_sink_no_shape_id_that_does_not_exist(
        store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([event("dup", 1.0, ANSWERED)], [])
    with pytest.raises(StoreError):  # the duplicate id fails the batch after its shape was added
        sink.write([event("x", 2.0, FAILED), event("dup", 1.0, ANSWERED)], [])
    sink.write([event("y", 3.0, FAILED)], [])
    assert shapes(store)["y"] == FAILED


def test_events_sharing_an_id_with_different_shapes_fail_their_batch_as_bad_rows(
        store: Store) -> None:
    # one id, two shapes: the batch is refused before any write (the writer splits it, as for
    # a row the database refuses); one id, one shape is the id index's to refuse, as before
    sink = SqlEventSink(store)
    with pytest.raises(ValueError, match="share an id"):
        sink.write([event("same", 1.0, ANSWERED), event("same", 2.0, FAILED)], [])
    sink.write([event("same", 1.0, FAILED)], [])
    assert shapes(store) == {"same": FAILED}


def test_downgrade_restores_the_columns(old_db: str) -> None:
    with Store.open(old_db) as store:
        SqlEventSink(store).write([event("new", 2000.0, FAILED)], [])
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "events_0010")
        table = sa.Table("request_events", sa.MetaData(), autoload_with=store.engine)
        assert "shape_id" not in table.c and "event_shapes" not in sa.inspect(
            store.engine).get_table_names()
        assert not table.c.source.nullable and not table.c.protocol.nullable
        with store.engine.connect() as conn:
            got = {r.id: {name: r._mapping[name] for name in SHAPE_FIELDS} for r in conn.execute(
                sa.select(table.c.id, *(table.c[name] for name in SHAPE_FIELDS)))}
    assert got == {**OLD, "new": FAILED}
