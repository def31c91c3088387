"""Attributes and flags stored once per distinct value (`event_values`, revision events_0010):
rows written before are converted and read back unchanged, the sink reuses a value's row,
a rolled-back batch leaves no dangling id behind, and the downgrade restores the JSON columns —
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from migration_helpers import engine_at

from rampway.errors import StoreError
from rampway.events import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import event_values, request_event_rows, request_events
from rampway.store import Store, alembic_config

PRO = {"plan": "pro", "region": "eu"}
FLAGS = {"f.model": {"value": "sim-large", "reason": "DEFAULT", "rule": None}}
OLD = [("old_0", PRO, FLAGS), ("old_1", PRO, None), ("old_2", {"plan": "free"}, FLAGS),
       ("old_3", None, None)]
ROW = {"feature": "f", "source": "gateway", "protocol": "openai", "stream": False,
       "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
       "latency_ms": 1.0, "input_tokens": 1, "output_tokens": 1, "cached_tokens": 0,
       "cost_usd": 0.0, "refusal": False, "output_chars": 1, "hedged": False}


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database at events_0009 holding rows with JSON attributes and flags (NULL in some)."""
    with engine_at(db_url, "events_0009") as engine:
        old = sa.Table("request_events", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            for i, (rid, attributes, flags) in enumerate(OLD):
                conn.execute(sa.insert(old).values(
                    id=rid, ts=1000.0 + i, **ROW,
                    attributes=sa.null() if attributes is None else attributes,
                    flags=sa.null() if flags is None else flags))
    yield db_url


def stored(store: Store) -> dict[str, tuple[object, object]]:
    with store.reading() as conn:
        rows = conn.execute(sa.select(request_event_rows.c.id, request_event_rows.c.attributes,
                                      request_event_rows.c.flags))
        return {r.id: (r.attributes, r.flags) for r in rows}


def test_upgrade_converts_the_rows_values_and_reads_them_back(old_db: str) -> None:
    with Store.open(old_db) as store:
        assert stored(store) == {rid: (a, f) for rid, a, f in OLD}
        with store.reading() as conn:
            values = conn.execute(sa.select(sa.func.count()).select_from(event_values)).scalar()
            ids = {r.id: (r.attributes_id, r.flags_id) for r in conn.execute(sa.select(
                request_events.c.id, request_events.c.attributes_id, request_events.c.flags_id))}
        assert values == 3  # PRO, {"plan": "free"}, FLAGS: each once
        assert ids["old_0"][0] == ids["old_1"][0] and ids["old_0"][1] == ids["old_2"][1]
        assert ids["old_3"] == (None, None)


def test_the_sink_stores_each_distinct_value_once(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([RequestEvent(id=f"a{i}", ts=float(i), feature="f", attributes=dict(PRO),
                             flags=FLAGS if i % 2 else None) for i in range(10)], [])
    sink.write([RequestEvent(id="b", ts=20.0, feature="f", attributes=dict(PRO))], [])
    SqlEventSink(store).write(  # another process: finds the value's row, adds none
        [RequestEvent(id="c", ts=21.0, feature="f", attributes=dict(PRO), flags=FLAGS)], [])
    got = stored(store)
    assert got["a1"] == (PRO, FLAGS) and got["a2"] == (PRO, None)
    assert got["b"] == (PRO, None) and got["c"] == (PRO, FLAGS)
    with store.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(event_values)).scalar() == 2


def test_a_rolled_back_batch_leaves_the_sink_no_id_that_does_not_exist(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([RequestEvent(id="dup", ts=1.0, feature="f")], [])
    new = {"plan": "enterprise"}
    with pytest.raises(StoreError):  # the duplicate id fails the batch after its value was added
        sink.write([RequestEvent(id="x", ts=2.0, feature="f", attributes=new),
                    RequestEvent(id="dup", ts=1.0, feature="f")], [])
    sink.write([RequestEvent(id="y", ts=3.0, feature="f", attributes=new)], [])
    assert stored(store)["y"] == (new, None)


def test_downgrade_restores_the_json_columns(old_db: str) -> None:
    with Store.open(old_db) as store:
        SqlEventSink(store).write(
            [RequestEvent(id="new", ts=2000.0, feature="f", attributes=PRO, flags=FLAGS)], [])
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "events_0009")
        table = sa.Table("request_events", sa.MetaData(), autoload_with=store.engine)
        assert "flags_id" not in table.c and "event_values" not in sa.inspect(
            store.engine).get_table_names()
        with store.engine.connect() as conn:
            got = {r.id: (r.attributes, r.flags) for r in conn.execute(
                sa.select(table.c.id, table.c.attributes, table.c.flags))}
    assert got == {**{rid: (a, f) for rid, a, f in OLD}, "new": (PRO, FLAGS)}
