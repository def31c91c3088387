"""Events land in the database (SQLite and PostgreSQL) through the writer and the SQL sink."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from rampway.events import EventWriter, FeedbackEvent, RequestEvent
from rampway.events.sink import RowWriter, SqlEventSink
from rampway.events.tables import (
    SHAPE_FIELDS,
    VALUE_FIELDS,
    feedback_events,
    request_event_rows,
    request_events,
)
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
        row = conn.execute(sa.select(request_event_rows).where(
            request_event_rows.c.id == "req_7")).one()
        fb = conn.execute(sa.select(feedback_events)).one()
    assert n == 120
    assert total_out == sum(range(120))
    assert row.attributes == {"plan": "pro", "n": 7}
    assert row.release_id == "support-bot@abcd1234" and row.stream is False
    assert fb.request_id == "req_3" and fb.value == 1.0


def test_a_refused_row_is_isolated_and_the_rest_of_its_batch_written(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([RequestEvent(id="req_dup", ts=1.0, feature="f")], [])
    writer = EventWriter(sink, retry_delays=(0.0,))
    # one good row and one duplicate id in the same batch: the batch (one transaction) is
    # refused as a whole, then split; the good row lands, the duplicate is rejected
    writer.emit(RequestEvent(id="req_new", ts=2.0, feature="f"))
    writer.emit(RequestEvent(id="req_dup", ts=3.0, feature="f"))
    writer.close()
    assert writer.stats.failed == 1 and writer.stats.dropped_by == {"rejected": 1}
    with store.engine.connect() as conn:
        rows = {r.id: r.ts for r in conn.execute(sa.select(request_events))}
    assert rows == {"req_dup": 1.0, "req_new": 2.0}


def test_row_writers_cover_every_column_from_the_event_fields(store: Store) -> None:
    # The sink reads columns straight off the events' attributes: a column added to a table
    # without a field of the same name would fail every batch.
    # A value's id (`flags_id`) is read from its field (`flags`), as the sink maps it; the
    # shape's id from the event's SHAPE_FIELDS.
    refs = {f"{field}_id": field for field in VALUE_FIELDS}
    for table, event in ((request_events, RequestEvent), (feedback_events, FeedbackEvent)):
        rows = RowWriter(table, store.engine.dialect, sources=refs)
        assert sorted(rows.names) == sorted(c.name for c in table.columns)
        read = {refs.get(n, n) for n in rows.names}
        if "shape_id" in read:  # found by the event's id, from its SHAPE_FIELDS
            read = read - {"shape_id"} | set(SHAPE_FIELDS)
        assert read <= set(event.__dataclass_fields__)


def test_json_columns_round_trip_and_absent_values_are_null(store: Store) -> None:
    SqlEventSink(store).write(
        [
            RequestEvent(id="r1", ts=1.0, feature="f", attributes={"plan": "pro", "n": [1, 2]}),
            RequestEvent(id="r2", ts=2.0, feature="f", stream=True, refusal=True, ttft_ms=3.5),
        ],
        [FeedbackEvent(id="fb", ts=3.0, name="thumbs", value=-1.0)],
    )
    ev, fb = request_event_rows.c, feedback_events.c
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(request_event_rows))}
        null_attrs = conn.scalar(sa.select(sa.func.count()).where(ev.attributes.is_(None)))
        fb_row = conn.execute(sa.select(feedback_events)).one()
        fb_null = conn.scalar(sa.select(sa.func.count()).where(fb.attributes.is_(None)))
    assert rows["r1"].attributes == {"plan": "pro", "n": [1, 2]}
    assert rows["r1"].stream is False and rows["r1"].ttft_ms is None
    assert rows["r2"].stream is True and rows["r2"].refusal is True and rows["r2"].ttft_ms == 3.5
    assert null_attrs == 1
    assert fb_row.value == -1.0 and fb_row.attributes is None and fb_null == 1


def test_copy_stores_exactly_what_insert_stores(store: Store) -> None:
    # PostgreSQL batches go through COPY; the INSERT path it replaced is the reference.
    if store.engine.dialect.name != "postgresql":
        with pytest.raises(ValueError, match="COPY needs PostgreSQL"):
            SqlEventSink(store, copy=True)
        return

    def batch(prefix: str) -> tuple[list[RequestEvent], list[FeedbackEvent]]:
        odd = "tab\there, new\nline, back\\slash, quote\" 'é' 🚀, \\N"
        return [
            RequestEvent(id=f"{prefix}1", ts=1.7e9 + 1 / 3, feature="f", release_id="f@1",
                         arm="candidate", unit_hash="u1", attributes={"note": odd, "x": 1e-300},
                         stream=True, latency_ms=0.1 + 0.2, ttft_ms=float("inf"),
                         cost_usd=1e-17, refusal=True, prompt_text=odd, response_text="",
                         flags={"f.model": {"value": [1, None], "reason": "DEFAULT",
                                            "rule": None}}),
            RequestEvent(id=f"{prefix}2", ts=2.0, feature="f", error_code=None, ttft_ms=None),
        ], [FeedbackEvent(id=f"{prefix}fb", ts=3.0, name="n", value=-0.0, request_id=odd,
                          attributes={"k": odd})]

    SqlEventSink(store, copy=True).write(*batch("c"))
    SqlEventSink(store, copy=False).write(*batch("i"))
    for table in (request_event_rows, feedback_events):
        with store.engine.connect() as conn:
            rows = {r.id: r._asdict() for r in conn.execute(sa.select(table))}
        copied = {k[1:]: {**v, "id": None} for k, v in rows.items() if k.startswith("c")}
        inserted = {k[1:]: {**v, "id": None} for k, v in rows.items() if k.startswith("i")}
        assert copied == inserted and copied
