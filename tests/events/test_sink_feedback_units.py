"""The SQL sink gives a feedback event naming a request that request's unit and session, where
the feedback's own are NULL (rampway.events.sink.FeedbackUnits), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.sink import LOOKUP_DAYS, SqlEventSink
from rampway.events.tables import feedback_events
from rampway.gateway.call import new_request_id
from rampway.store import Store

_IDS: dict[str, str] = {}


def gid(name: str) -> str:
    """A gateway request id (`new_request_id`) per name: the ids a gateway gives its requests,
    which PostgreSQL's lookup reads in their own days (other ids are not looked up there)."""
    return _IDS.setdefault(name, new_request_id())


def request(name: str, ts: float | None = None, unit: str | None = "u1",
            session: str | None = "s1") -> RequestEvent:
    return RequestEvent(id=gid(name), ts=time.time() if ts is None else ts,
                        feature="support-bot", unit_hash=unit, session_hash=session)


def thumbs(fid: str, request: str | None = None, **fields: Any) -> FeedbackEvent:
    return FeedbackEvent(id=fid, ts=time.time(), name="thumbs", value=1.0,
                         request_id=None if request is None else gid(request), **fields)


def stored(store: Store) -> dict[str, tuple[str | None, str | None]]:
    fb = feedback_events.c
    with store.reading() as conn:
        return {i: (u, s) for i, u, s in conn.execute(
            sa.select(fb.id, fb.unit_hash, fb.session_hash))}


def test_feedback_takes_its_requests_unit_from_the_same_batch_or_an_earlier_one(
        store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([request("r1")], [thumbs("same", request="r1")])
    sink.write([request("r2", unit="u2", session=None)], [])
    sink.write([], [thumbs("earlier", request="r2")])
    assert stored(store) == {"same": ("u1", "s1"), "earlier": ("u2", None)}


def test_only_null_columns_are_filled(store: Store) -> None:
    sink = SqlEventSink(store)
    sink.write([request("r1")], [])
    own = thumbs("own", request="r1", unit_hash="mine")
    sink.write([], [own, thumbs("session", request="r1", session_hash="s-own"),
                    thumbs("both", request="r1", unit_hash="a", session_hash="b"),
                    thumbs("unit_only", unit_hash="u7")])
    assert stored(store) == {"own": ("mine", "s1"), "session": ("u1", "s-own"),
                             "both": ("a", "b"), "unit_only": ("u7", None)}
    assert own.session_hash is None  # the caller's event is left as it was (a retry)


def test_a_request_not_written_yet_leaves_the_feedback_unit_null(store: Store) -> None:
    """Readers find those through the request; feedback after it is filled."""
    sink = SqlEventSink(store)
    sink.write([], [thumbs("early", request="r_later")])
    sink.write([request("r_later")], [])
    sink.write([], [thumbs("after", request="r_later")])
    assert stored(store) == {"early": (None, None), "after": ("u1", "s1")}


def test_gateway_request_ids_are_found_in_their_days(store: Store) -> None:
    now = time.time()
    sink = SqlEventSink(store)
    sink.write([request("gw", ts=now, unit="ug", session="sg")], [])
    sink.write([], [thumbs("gw", request="gw"), thumbs("unknown", request="never-written")])
    assert stored(store) == {"gw": ("ug", "sg"), "unknown": (None, None)}


def test_postgresql_looks_up_only_recent_gateway_ids(store: Store) -> None:
    """A feedback's request id is the client's word: on PostgreSQL an id of another form, or
    one claiming a time outside the last LOOKUP_DAYS, would send the lookup through every
    day partition's index, for every batch — those are not looked up (readers join them, as
    before); the request's own partition is read for the others. SQLite has one index: every
    id is looked up."""
    now = time.time()
    old = now - (LOOKUP_DAYS + 2) * 86_400.0
    aged = "req_" + int(old * 1000).to_bytes(6, "big").hex() + "0" * 12
    epoch = "req_" + "0" * 24
    sink = SqlEventSink(store)
    sink.write([RequestEvent(id=i, ts=ts, feature="support-bot", unit_hash="u", session_hash="s")
                for i, ts in (("custom-1", now), (aged, old), (epoch, 0.0))]
               + [request("recent", ts=now)], [])
    sink.write([], [FeedbackEvent(id=f"f-{i}", ts=now, name="thumbs", value=1.0, request_id=i)
                    for i in ("custom-1", aged, epoch, gid("recent"))])
    found = stored(store)
    assert found[f"f-{gid('recent')}"] == ("u1", "s1")
    skipped = {found[f"f-{i}"] for i in ("custom-1", aged, epoch)}
    assert skipped == ({(None, None)} if store.engine.dialect.name == "postgresql"
                       else {("u", "s")})


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
                                        thumbs("same", request="r_new")])
        assert lookups == []
        sink.write([], [thumbs(f"f{i}", request=f"r{i}") for i in range(30)])
        assert len(lookups) == 1
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert stored(store)["f29"] == ("u1", "s1")
