"""The SQL sink gives a feedback event naming a request that request's unit and session, where
the feedback's own are NULL (rampway.events.sink.FeedbackUnits), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events
from rampway.gateway.call import new_request_id
from rampway.store import Store


def request(rid: str, ts: float = 1000.0, unit: str | None = "u1",
            session: str | None = "s1") -> RequestEvent:
    return RequestEvent(id=rid, ts=ts, feature="support-bot", unit_hash=unit,
                        session_hash=session)


def thumbs(fid: str, **fields: Any) -> FeedbackEvent:
    return FeedbackEvent(id=fid, ts=2000.0, name="thumbs", value=1.0, **fields)


def stored(store: Store) -> dict[str, tuple[str | None, str | None]]:
    fb = feedback_events.c
    with store.reading() as conn:
        return {i: (u, s) for i, u, s in conn.execute(
            sa.select(fb.id, fb.unit_hash, fb.session_hash))}


def test_feedback_takes_its_requests_unit_from_the_same_batch_or_an_earlier_one(
        store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([request("r1")], [thumbs("same", request_id="r1")])
    sink.write([request("r2", unit="u2", session=None)], [])
    sink.write([], [thumbs("earlier", request_id="r2")])
    assert stored(store) == {"same": ("u1", "s1"), "earlier": ("u2", None)}


def test_only_null_columns_are_filled(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([request("r1")], [])
    own = thumbs("own", request_id="r1", unit_hash="mine")
    sink.write([], [own, thumbs("session", request_id="r1", session_hash="s-own"),
                    thumbs("both", request_id="r1", unit_hash="a", session_hash="b"),
                    thumbs("unit_only", unit_hash="u7")])
    assert stored(store) == {"own": ("mine", "s1"), "session": ("u1", "s-own"),
                             "both": ("a", "b"), "unit_only": ("u7", None)}
    assert own.session_hash is None  # the caller's event is left as it was (a retry)


def test_a_request_not_written_yet_leaves_the_feedback_unit_null(store: Store) -> None:
    """Readers find those through the request; feedback after it is filled."""
    sink = SqlEventSink(store)
    sink.write([], [thumbs("early", request_id="r_later")])
    sink.write([request("r_later")], [])
    sink.write([], [thumbs("after", request_id="r_later")])
    assert stored(store) == {"early": (None, None), "after": ("u1", "s1")}


def test_gateway_request_ids_are_found_in_their_days(store: Store) -> None:
    """On PostgreSQL the lookup reads only the partitions around the ids' own time."""
    now = time.time()
    rid = new_request_id()
    sink = SqlEventSink(store)
    sink.write([request(rid, ts=now, unit="ug", session="sg"),
                request("r_plain", ts=now - 40 * 86_400, unit="up", session=None)], [])
    sink.write([], [thumbs("gw", request_id=rid), thumbs("plain", request_id="r_plain"),
                    thumbs("unknown", request_id=new_request_id())])
    assert stored(store) == {"gw": ("ug", "sg"), "plain": ("up", None),
                             "unknown": (None, None)}


def test_one_lookup_per_batch_with_such_feedback_and_none_otherwise(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([request(f"r{i}") for i in range(30)], [])
    lookups: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "request_events" in statement:
            lookups.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        sink.write([request("r_new")], [thumbs("own", unit_hash="u", session_hash="s"),
                                        thumbs("same", request_id="r_new")])
        assert lookups == []
        sink.write([], [thumbs(f"f{i}", request_id=f"r{i}") for i in range(30)])
        assert len(lookups) == 1
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert stored(store)["f29"] == ("u1", "s1")
