"""One bad row never costs its batch: the writer isolates it, writes the rest, dead-letters it.

Issue #12, defect 1: a NUL character in a feedback `request_id` made PostgreSQL refuse a whole
batch, which was retried 4x and then dropped (31 request rows + 30 feedback rows), with
`rampway_events_dropped_total` still at 0.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from rampway.events import DeadLetterFile, EventWriter, FeedbackEvent, RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events, request_events
from rampway.store import Store

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


class RefusingSink:
    """Refuses (ValueError, as a driver does for an unencodable value) any batch holding a
    refused id; fails (RuntimeError: the database is down) the first `down` writes."""

    def __init__(self, refused: set[str], down: int = 0) -> None:
        self.refused = refused
        self.down = down
        self.ids: list[str] = []
        self.writes = 0
        self.lock = threading.Lock()

    def write(self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]) -> None:
        self.writes += 1
        if self.down:
            self.down -= 1
            raise RuntimeError("connection refused")
        ids = [e.id for e in (*requests, *feedback)]
        if self.refused & set(ids):
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        self.ids.extend(ids)


def _ev(i: int) -> RequestEvent:
    return RequestEvent(id=f"req_{i}", ts=float(i), feature="f")


def test_the_rows_around_a_refused_one_are_written_and_it_is_dead_lettered(
    tmp_path: Path,
) -> None:
    sink = RefusingSink({"req_37", "req_70"})
    drops: list[tuple[str, int]] = []
    letters = DeadLetterFile(tmp_path / "dl" / "events.jsonl")
    writer = EventWriter(sink, batch_size=500, retry_delays=(0.0, 0.0),
                         on_drop=lambda reason, n: drops.append((reason, n)),
                         dead_letter=letters)
    for i in range(100):
        writer.emit(_ev(i))
    writer.close()
    assert sorted(sink.ids) == sorted(f"req_{i}" for i in range(100) if i not in (37, 70))
    assert writer.stats.written == 98 and writer.stats.rejected == 2
    assert writer.stats.dropped == 2 and writer.stats.dropped_by == {"rejected": 2}
    assert drops == [("rejected", 1), ("rejected", 1)]
    lines = [json.loads(x) for x in letters.path.read_text().splitlines()]
    assert sorted(x["event"]["id"] for x in lines) == ["req_37", "req_70"]
    assert all("NUL" in x["reason"] and x["kind"] == "request" for x in lines)
    assert sink.writes < 40  # bisection: about k*log2(n) writes, not one per row


def test_database_trouble_is_retried_not_dead_lettered() -> None:
    sink = RefusingSink(set(), down=2)
    writer = EventWriter(sink, retry_delays=(0.0, 0.0, 0.0))
    for i in range(10):
        writer.emit(_ev(i))
    writer.close()
    assert len(sink.ids) == 10 and writer.stats.dropped == 0


def test_a_database_that_stays_down_counts_every_lost_event() -> None:
    sink = RefusingSink(set(), down=1000)
    drops: list[tuple[str, int]] = []
    writer = EventWriter(sink, retry_delays=(0.0,),
                         on_drop=lambda reason, n: drops.append((reason, n)))
    for i in range(7):
        writer.emit(_ev(i))
    writer.close()
    assert writer.stats.dropped_by == {"write_failed": 7} and drops == [("write_failed", 7)]
    assert sink.writes == 2  # one try + one retry, no bisection of a dead database


def _mixed_batch() -> tuple[list[RequestEvent], list[FeedbackEvent]]:
    requests = [
        RequestEvent(id=f"req_{i}", ts=float(i), feature="support-bot",
                     attributes={"plan": "pro", "i": i})
        for i in range(120)
    ]
    requests[37].feature = "support-bot\ud800"  # no driver can encode a lone surrogate
    requests[70].attributes = {"note": "a\x00b"}  # PostgreSQL: JSONB refuses \u0000
    feedback = [
        FeedbackEvent(id=f"fb_{i}", ts=float(i), name="thumbs", value=1.0, request_id=f"req_{i}")
        for i in range(30)
    ]
    feedback[5].request_id = "req\x00_5"  # PostgreSQL: text refuses NUL
    return requests, feedback


def test_postgresql_refusing_rows_of_a_batch_loses_only_those_rows(
    store: Store, tmp_path: Path
) -> None:
    requests, feedback = _mixed_batch()
    letters = DeadLetterFile(tmp_path / "dead.jsonl")
    writer = EventWriter(SqlEventSink(store), batch_size=1000, retry_delays=(0.0,),
                         dead_letter=letters)
    for event in (*requests, *feedback):
        writer.emit(event)
    writer.close()
    postgres = store.engine.dialect.name == "postgresql"
    bad = {"req_37", "req_70", "fb_5"} if postgres else {"req_37"}
    with store.engine.connect() as conn:
        stored = set(conn.scalars(sa.select(request_events.c.id)))
        stored |= set(conn.scalars(sa.select(feedback_events.c.id)))
    everything = {e.id for e in (*requests, *feedback)}
    assert stored == everything - bad
    assert writer.stats.dropped_by == {"rejected": len(bad)}
    dead = [json.loads(x) for x in letters.path.read_text(encoding="ascii").splitlines()]
    assert {x["event"]["id"] for x in dead} == bad


def test_postgresql_dropping_every_connection_under_load_loses_nothing(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # A database restart as the writer sees it: every connection killed mid-traffic. Batches
    # are retried on fresh connections; nothing is dropped, nothing is dead-lettered.
    if store.engine.dialect.name != "postgresql":
        pytest.skip("connection kills are a PostgreSQL scenario")
    database = store.engine.url.database
    writer = EventWriter(SqlEventSink(store), batch_size=50, flush_interval=0.01,
                         retry_delays=(0.05, 0.1, 0.2, 0.5, 1.0))
    writer.start()
    stop = threading.Event()

    def kill_connections() -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            while not stop.wait(0.02):
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))

    killer = threading.Thread(target=kill_connections)
    killer.start()
    try:
        for i in range(3000):
            writer.emit(_ev(i))
            if i % 25 == 0:
                time.sleep(0.01)
    finally:
        stop.set()
        killer.join(10)
    writer.close()
    assert any("retrying" in r.getMessage() for r in caplog.records)  # connections did die
    assert writer.stats.dropped == 0 and writer.stats.written == 3000
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(request_events)) == 3000
