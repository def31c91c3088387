"""Events land in the database (SQLite and PostgreSQL) through the writer and the SQL sink."""

from __future__ import annotations

import sqlalchemy as sa

from rampway.events import EventWriter, FeedbackEvent, RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events, request_events
from rampway.store import Store


def test_events_land_in_the_database(store: Store) -> None:
    writer = EventWriter(SqlEventSink(store), batch_size=50, flush_interval=0.05)
    writer.start()
    for i in range(120):
        writer.emit(
            RequestEvent(
                id=f"req_{i}", ts=1000.0 + i, feature="support-bot",
                release_id="support-bot@abcd1234", arm="production", unit_hash="u" * 32,
                attributes={"plan": "pro", "n": i}, input_tokens=10, output_tokens=i,
                cost_usd=0.001, prompt_text="hi", response_text="hello",
            )
        )
    writer.emit(FeedbackEvent(id="fb_1", ts=2000.0, name="thumbs_up", value=1.0,
                              request_id="req_3", attributes={"source": "web"}))
    writer.close()
    assert writer.stats.written == 121 and writer.stats.failed == 0
    with store.engine.connect() as conn:
        n = conn.scalar(sa.select(sa.func.count()).select_from(request_events))
        total_out = conn.scalar(sa.select(sa.func.sum(request_events.c.output_tokens)))
        row = conn.execute(sa.select(request_events).where(request_events.c.id == "req_7")).one()
        fb = conn.execute(sa.select(feedback_events)).one()
    assert n == 120
    assert total_out == sum(range(120))
    assert row.attributes == {"plan": "pro", "n": 7}
    assert row.release_id == "support-bot@abcd1234" and row.stream is False
    assert fb.request_id == "req_3" and fb.value == 1.0


def test_a_failing_batch_writes_no_partial_rows(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([RequestEvent(id="req_dup", ts=1.0, feature="f")], [])
    writer = EventWriter(sink, retry_delays=(0.0,))
    # one good row and one duplicate id in the same batch: the whole batch must roll back
    writer.emit(RequestEvent(id="req_new", ts=2.0, feature="f"))
    writer.emit(RequestEvent(id="req_dup", ts=3.0, feature="f"))
    writer.close()
    assert writer.stats.failed == 2
    with store.engine.connect() as conn:
        ids = sorted(conn.scalars(sa.select(request_events.c.id)))
    assert ids == ["req_dup"]
