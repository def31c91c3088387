"""Events written to ClickHouse (the embedded engine) hold what the SQL sink writes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rampway.events import DeadLetterFile, EventWriter, FeedbackEvent, RequestEvent
from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events, request_event_fields, request_event_rows
from rampway.store import Store

JSON_COLUMNS = {"attributes", "flags", "tool_calls"}


def request_id(i: int, made: float = 1_700_000_000.0) -> str:
    """A gateway-form request id (`new_request_id`: the millisecond, then 48 bits) made at
    `made`: the SQL sink looks feedback's requests up by such ids on PostgreSQL."""
    return "req_" + int(made * 1000).to_bytes(6, "big").hex() + f"{i:012x}"


def sample_events(now: float = 1_700_000_000.0,
                  ) -> tuple[list[RequestEvent], list[FeedbackEvent]]:
    """`now`: when the requests were made (the feedback follows 100 s later)."""
    requests = [
        RequestEvent(
            id=request_id(i, now), ts=now + 0.25 + i, feature="support-bot",
            release_id="support-bot@abcd1234" if i % 3 else None, arm="candidate",
            unit_hash=f"u{i % 7}" if i % 5 else None, session_hash=f"s{i % 11}",
            attributes={"plan": "pro", "n": i, "quote": "it's \\ \"x\""},
            flags={"tone": {"value": "warm", "variant": "a", "reason": "rule", "error": None}},
            stream=i % 2 == 0, provider="sim", model="sim-large", attempts=1 + i % 2,
            fallback_used=i % 4 == 0, hedged=i % 6 == 0, status="ok" if i % 9 else "error",
            http_status=200 if i % 9 else 502, error_code=None if i % 9 else "upstream",
            latency_ms=12.5 * i, ttft_ms=None if i % 2 else 3.0 * i, input_tokens=5 + i,
            output_tokens=i, cached_tokens=i // 3, cost_usd=0.0001 * i, refusal=i % 8 == 0,
            finish_reason="stop", output_chars=4 * i,
            prompt_text="héllo ünïcode ✓" if i % 2 else None,
            response_text="line1\nline2\ttab", tool_calls=[{"name": "lookup"}] if i == 3 else None,
        )
        for i in range(40)
    ]
    feedback = [FeedbackEvent(id=f"fb_{i}", ts=now + 100.0 + i, name="thumbs",
                              value=float(i % 3 - 1), request_id=request_id(i, now),
                              unit_hash=None if i % 2 else "u1", feature="support-bot",
                              attributes={"source": "web"} if i % 2 else None)
                for i in range(10)]
    return requests, feedback


def normal(row: dict[str, Any]) -> dict[str, Any]:
    """A row as plain values: JSON columns parsed, booleans as bools."""
    out = dict(row)
    for name in JSON_COLUMNS & out.keys():
        if isinstance(out[name], str):
            out[name] = json.loads(out[name])
    return out


def clickhouse_rows(events: ClickHouseEvents, table: sa.Table) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    columns = events.backend.columns(f"SELECT {', '.join(names)} FROM {table.name} ORDER BY id")
    return [normal(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]


def sql_rows(store: Store, table: sa.FromClause) -> list[dict[str, Any]]:
    with store.reading() as conn:
        return [normal(dict(r._mapping)) for r in conn.execute(sa.select(table).order_by(
            table.c.id))]


def test_rows_in_clickhouse_equal_the_rows_of_the_sql_sink(
    chdb_events: ClickHouseEvents, store: Store
) -> None:
    requests, feedback = sample_events(time.time())  # recent: the sink looks them up
    for sink in (chdb_events.sink(), SqlEventSink(store)):
        writer = EventWriter(sink, batch_size=16, flush_interval=0.01)
        for event in (*requests, *feedback):
            writer.emit(event)
        writer.close()
        assert writer.stats.written == 50 and writer.stats.dropped == 0
    in_clickhouse = clickhouse_rows(chdb_events, request_event_fields)
    assert in_clickhouse == sql_rows(store, request_event_rows)
    # the SQL sink fills a feedback row's NULL unit columns from the request it names
    # (`rampway.events.sink`, for the experiments' roll-up); the ClickHouse sink does not, and
    # its readers join the named request as before: otherwise the rows are the same
    named = {r["id"]: r for r in in_clickhouse}
    filled = [{**row, **{k: named[row["request_id"]][k] for k in ("unit_hash", "session_hash")
                         if row[k] is None and row["request_id"] in named}}
              for row in clickhouse_rows(chdb_events, feedback_events)]
    assert filled == sql_rows(store, feedback_events)


def test_a_row_the_columns_cannot_hold_is_isolated_and_dead_lettered(
    chdb_events: ClickHouseEvents, tmp_path: Path
) -> None:
    dead = DeadLetterFile(tmp_path / "dead.jsonl")
    writer = EventWriter(chdb_events.sink(), retry_delays=(0.0,), dead_letter=dead)
    for i in range(9):
        writer.emit(RequestEvent(id=f"ok_{i}", ts=1.0 + i, feature="f"))
    writer.emit(RequestEvent(id="bad", ts=5.5, feature="f", latency_ms="fast"))  # type: ignore[arg-type]
    writer.close()
    assert writer.stats.written + writer.stats.failed == 10
    assert writer.stats.dropped_by == {"rejected": 1}
    (ids,) = chdb_events.backend.columns("SELECT id FROM request_events ORDER BY id")
    assert ids == [f"ok_{i}" for i in range(9)]
    assert "bad" in (tmp_path / "dead.jsonl").read_text()


def test_a_batch_written_again_is_stored_once(chdb_events: ClickHouseEvents) -> None:
    """The writer retries a batch whose acknowledgement was lost: ClickHouse has no primary
    key to refuse the repeat, so each insert carries its batch's token and the tables keep a
    deduplication window — the retried batch is skipped, another batch is kept."""
    requests, feedback = sample_events()
    sink = chdb_events.sink()
    sink.write(requests, feedback)
    sink.write(requests, feedback)  # the retry
    assert len(clickhouse_rows(chdb_events, request_event_fields)) == len(requests)
    assert len(clickhouse_rows(chdb_events, feedback_events)) == len(feedback)
    sink.write(requests[:1], [])  # a different batch (one of the same events): kept
    assert len(clickhouse_rows(chdb_events, request_event_fields)) == len(requests) + 1
    (settings,) = chdb_events.backend.columns(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'request_events'")
    assert "non_replicated_deduplication_window = 1000" in settings[0]
