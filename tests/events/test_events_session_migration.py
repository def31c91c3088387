"""Revision events_0007 (`session_hash` on both event tables) on a database that already holds
events: upgrading from the previous head keeps the rows (no session: NULL), new rows carry the
session beside the user unit, and a downgrade keeps the rows — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from migration_helpers import engine_at

from rampway.events import FeedbackEvent, RequestEvent
from rampway.events.model import hash_unit
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events, request_events
from rampway.gateway.feedback import parse_feedback
from rampway.store import Store, alembic_config, current_revisions, head_revisions

PREVIOUS = "events_0006"
OLD_ROW = {
    "ts": 1000.0, "feature": "support-bot", "release_id": "support-bot@abcd1234",
    "arm": "production", "unit_hash": "u" * 32, "source": "gateway", "protocol": "openai",
    "stream": False, "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
    "latency_ms": 12.5, "input_tokens": 10, "output_tokens": 20, "cached_tokens": 0,
    "cost_usd": 0.001, "refusal": False, "output_chars": 80,
}


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database at events_0006 with two request rows and one feedback row."""
    with engine_at(db_url, PREVIOUS) as engine:
        meta = sa.MetaData()
        old_requests = sa.Table("request_events", meta, autoload_with=engine)
        old_feedback = sa.Table("feedback_events", meta, autoload_with=engine)
        assert "session_hash" not in old_requests.c and "session_hash" not in old_feedback.c
        with engine.begin() as conn:
            conn.execute(sa.insert(old_requests), [{**OLD_ROW, "id": f"old_{i}"} for i in range(2)])
            conn.execute(sa.insert(old_feedback), [{"id": "fb_old", "ts": 1001.0, "name": "up",
                                                    "value": 1.0, "unit_hash": "u" * 32}])
    yield db_url


def test_upgrade_keeps_rows_and_new_rows_carry_both_units(old_db: str) -> None:
    with Store.open(old_db) as store:  # opening migrates to head
        assert current_revisions(store.engine) == head_revisions()
        feedback = parse_feedback({"session": "s-7", "name": "up", "value": 1}, now=2000.0)
        SqlEventSink(store).write(
            [RequestEvent(id="new_1", ts=2000.0, feature="support-bot",
                          unit_hash=hash_unit("u-42"), session_hash=hash_unit("s-7"))],
            [feedback])
        with store.engine.connect() as conn:
            requests = {r.id: r for r in conn.execute(sa.select(request_events))}
            fb = {r.id: r for r in conn.execute(sa.select(feedback_events))}
    assert sorted(requests) == ["new_1", "old_0", "old_1"]
    assert requests["old_0"].session_hash is None and requests["old_0"].unit_hash == "u" * 32
    assert (requests["new_1"].unit_hash, requests["new_1"].session_hash) == (
        hash_unit("u-42"), hash_unit("s-7"))
    assert fb["fb_old"].session_hash is None
    assert (fb[feedback.id].session_hash, fb[feedback.id].unit_hash) == (hash_unit("s-7"), None)


def test_downgrade_to_the_previous_head_keeps_the_rows(old_db: str) -> None:
    with Store.open(old_db) as store:
        SqlEventSink(store).write([], [FeedbackEvent(id="fb_new", ts=3.0, name="up", value=1.0,
                                                     session_hash="s" * 32)])
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), PREVIOUS)
        meta = sa.MetaData()
        requests = sa.Table("request_events", meta, autoload_with=store.engine)
        feedback = sa.Table("feedback_events", meta, autoload_with=store.engine)
        assert "session_hash" not in requests.c and "session_hash" not in feedback.c
        with store.engine.connect() as conn:
            ids = sorted(conn.scalars(sa.select(requests.c.id)))
            fb_ids = sorted(conn.scalars(sa.select(feedback.c.id)))
    assert ids == ["old_0", "old_1"] and fb_ids == ["fb_new", "fb_old"]


def test_feedback_needs_a_request_a_unit_or_a_session() -> None:
    from rampway.errors import RequestError

    with pytest.raises(RequestError) as err:
        parse_feedback({"name": "up", "value": 1})
    assert "session" in err.value.message
    with pytest.raises(RequestError) as bad:
        parse_feedback({"name": "up", "value": 1, "session": 7})
    assert bad.value.param == "session"
