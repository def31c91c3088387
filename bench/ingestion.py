"""Event ingestion: rows per second through the event sink (`SqlEventSink.write`, what the
writer thread calls once per batch), on SQLite and PostgreSQL — and, with `--db chdb`,
through `ClickHouseSink.write` into ClickHouse's embedded engine (`rampway[clickhouse]`).

    .venv/bin/python bench/ingestion.py [--rows 100000 1000000] [--db sqlite postgres chdb]
                                        [--batch 5000] [--json]

Rows: request events as the gateway writes them (`events` below: random ids, hashed user and
session units, one feature, two arms, ~20 requests per user, attributes and two flag evaluations as
JSON, served model, fingerprint, finish reason, error codes on the 2% that fail; no prompt/response
texts) plus one feedback event per 10 requests. Only the sink's writes are timed (building the
events is not), in wall time and in the client process's CPU time per row (the part the gateway's
own process pays). On PostgreSQL both the COPY path (the default) and the executemany of INSERTs it
replaced are measured. Databases as in bench/judge_look.py: a temporary SQLite file, a fresh
PostgreSQL database on 127.0.0.1:5432 (dropped afterwards). `--rollup` says what the sink does
about the judge's roll-up (`rampway.rollout.rollup`): `idle` (the default sink, no rollout under
way: one segment query per batch), `on` (a rollout step's segment open over every row: the roll-up
kept per batch) or `off` (`SqlEventSink(rollup=False)`).

On chdb the engine runs in the bench's process: the "client CPU" then includes the engine's
own (parsing, compression, part writes), which a ClickHouse server would do on its host. Its
size is the request table's compressed bytes on disk per row, after merging its parts. Each
batch is one insert per table and each insert writes a new part (~15–30 ms whatever its
size), so the batch size decides the rate: measure with the writer's default
(`gateway.events.batch_size`, 500) and with its maximum (`--batch 10000`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge_look import database  # noqa: E402

from rampway.events import FeedbackEvent, RequestEvent, hash_unit  # noqa: E402
from rampway.events.sink import SqlEventSink  # noqa: E402
from rampway.store import Store  # noqa: E402

FEATURE = "support-bot"
RELEASES = {"baseline": "support-bot@3f2a9c1e", "candidate": "support-bot@77d0b2aa"}
FLAGS = {"support-bot.model": {"value": "gpt-4o-mini", "reason": "TARGETING_MATCH", "rule": 0},
         "support-bot.max_tokens": {"value": 1000, "reason": "DEFAULT", "rule": None}}
# What the provider says answered (`served_model`, `system_fingerprint`): a dated model name and
# a few backend fingerprints, as OpenAI returns them.
SERVED = "gpt-4o-mini-2024-07-18"
FINGERPRINTS = ("fp_0ba0d124f1", "fp_e2bde53e6e", "fp_f85bea6784")
FINISH = ("stop", "stop", "stop", "stop", "stop", "stop", "stop", "length", "tool_calls")
ERRORS = ("timeout", "rate_limit_exceeded", "server_error")


def events(start: int, n: int, rng: np.random.Generator, users: int,
           ) -> tuple[list[RequestEvent], list[FeedbackEvent]]:
    """Request rows as the gateway writes them (`rampway.gateway.eventlog`): `req_` + 24
    hex ids (the millisecond, then random), `hash_unit`'s 32-hex unit and session hashes (~5
    requests per session, 90% of requests in one), what the provider says answered, finish
    reasons, an error code on the 2% that fail (with no answer: served model, fingerprint and
    finish reason NULL), a second attempt on some."""
    unit = rng.integers(users, size=n)
    session = rng.integers(4, size=n)
    sessionless = rng.random(n) < 0.1
    latency = 800 * np.exp(0.5 * rng.standard_normal(n))
    error = rng.random(n) < 0.02
    retried = rng.random(n) < 0.03
    pick = rng.integers(len(FINISH) * len(FINGERPRINTS) * len(ERRORS), size=n)
    cached = rng.random(n) < 0.3
    # as `new_request_id` makes them: the request's millisecond (6 bytes), then 48 random bits
    ids = ["req_" + int((1.7e9 + (start + i) * 0.0004) * 1000).to_bytes(6, "big").hex()
           + rng.bytes(6).hex() for i in range(n)]
    # plain lists: indexing numpy arrays per row made building 10M events take minutes
    unit, latency, error = unit.tolist(), latency.tolist(), error.tolist()
    session, sessionless = session.tolist(), sessionless.tolist()
    retried, pick, cached = retried.tolist(), pick.tolist(), cached.tolist()
    requests = []
    for i in range(n):
        u = int(unit[i])
        arm = "candidate" if u % 2 else "baseline"
        failed = bool(error[i])
        k = int(pick[i])
        requests.append(RequestEvent(
            id=ids[i], ts=1.7e9 + (start + i) * 0.0004, feature=FEATURE,
            release_id=RELEASES[arm], arm=arm, unit_hash=hash_unit(f"user-{u}"),
            session_hash=None if sessionless[i] else hash_unit(f"user-{u}/s{session[i]}"),
            attributes={"plan": "pro" if u % 3 else "free", "region": "eu"},
            source="gateway", protocol="openai", stream=True, provider="openai",
            model="gpt-4o-mini", served_model=None if failed else SERVED,
            system_fingerprint=None if failed else FINGERPRINTS[k % len(FINGERPRINTS)],
            attempts=2 if retried[i] else 1, fallback_used=False,
            status="error" if failed else "ok", http_status=502 if failed else 200,
            error_code=ERRORS[k % len(ERRORS)] if failed else None,
            latency_ms=float(latency[i]), ttft_ms=None if failed else float(latency[i]) * 0.2,
            input_tokens=52 + u % 400, output_tokens=0 if failed else int(100 + u % 50),
            cached_tokens=1024 if cached[i] else 0,
            cost_usd=0.001 + float(u % 7) * 1e-4,
            finish_reason=None if failed else FINISH[k % len(FINISH)],
            output_chars=0 if failed else 400 + u % 300, flags=FLAGS))
    feedback = [FeedbackEvent(id="fb_" + rng.bytes(12).hex(), ts=1.7e9 + (start + i) * 0.0004,
                              name="thumbs_up", value=1.0, request_id=ids[i],
                              unit_hash=requests[i].unit_hash, feature=FEATURE)
                for i in range(0, n, 10)]
    return requests, feedback


def ingest(store: Any, rows: int, batch: int, copy: bool | None,
           rollup: str = "idle") -> dict[str, Any]:
    if not isinstance(store, Store):  # ClickHouse: its own sink, no roll-up
        return write_all(store.sink(), rows, batch) | clickhouse_size(store, rows)
    sink = SqlEventSink(store, copy=copy, rollup=rollup != "off")
    if rollup == "on":
        from rampway.rollout.segments import open_segment

        with store.transaction() as conn:
            open_segment(conn, FEATURE, 1.7e9)
    return write_all(sink, rows, batch) | sizes(store, rows)


def write_all(sink: Any, rows: int, batch: int) -> dict[str, Any]:
    """Write `rows` requests (and their feedback) through `sink`, timing only the writes."""
    rng = np.random.default_rng(1)
    users = max(1, rows // 20)
    spent = cpu = 0.0
    written = 0
    for start in range(0, rows, batch):
        requests, feedback = events(start, min(batch, rows - start), rng, users)
        t, c = time.perf_counter(), time.process_time()
        sink.write(requests, feedback)
        spent += time.perf_counter() - t
        cpu += time.process_time() - c
        written += len(requests) + len(feedback)
    return {"requests": rows, "rows": written, "seconds": round(spent, 2),
            "rows_per_s": round(written / spent),
            "client_cpu_us_per_row": round(cpu / written * 1e6, 1)}


def clickhouse_size(events: Any, requests: int) -> dict[str, int]:
    """ClickHouse: compressed bytes on disk per request row, once its parts are merged."""
    events.backend.command("OPTIMIZE TABLE request_events FINAL")
    (size,) = events.backend.columns(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = currentDatabase() "
        "AND table = 'request_events' AND active")
    return {"disk_bytes_per_row": round(int(size[0]) / requests)}


@contextlib.contextmanager
def target(kind: str) -> Iterator[Any]:
    """An empty store, or ClickHouse's embedded engine in a temporary directory (`chdb`)."""
    if kind == "chdb":
        from rampway.events.clickhouse import parse_events_url
        from rampway.events.clickhouse.store import ClickHouseEvents

        with tempfile.TemporaryDirectory() as tmp, \
                ClickHouseEvents.open(parse_events_url(f"chdb://{tmp}")) as events:
            yield events
        return
    with database(kind) as url, Store.open(url) as store:
        yield store


def sizes(store: Store, requests: int) -> dict[str, int]:
    """PostgreSQL: bytes per request row on disk — the heap (with TOAST) alone, and with its
    indexes; after VACUUM, as a table at rest would be."""
    if store.engine.dialect.name != "postgresql":
        return {}
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        heap, total = conn.exec_driver_sql(  # over the partitions (a parent holds nothing)
            "SELECT sum(pg_table_size(relid)), sum(pg_total_relation_size(relid)) "
            "FROM pg_partition_tree('request_events')"
        ).one()
    return {"heap_bytes_per_row": round(heap / requests),
            "bytes_per_row_with_indexes": round(total / requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", choices=["sqlite", "postgres", "chdb"], nargs="+",
                        default=["sqlite", "postgres"])
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--insert", action="store_true",
                        help="PostgreSQL: also measure the executemany of INSERTs")
    parser.add_argument("--rollup", choices=["off", "idle", "on"], default="idle",
                        help="the judge's roll-up: off, idle (no rollout under way: the "
                        "default sink), on (a rollout step's segment over every row)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for kind in args.db:
        paths: list[tuple[str, bool | None]] = [("insert", None)] if kind != "postgres" else (
            [("copy", True), ("insert", False)] if args.insert else [("copy", True)])
        for rows in args.rows:
            for path, copy in paths:
                with target(kind) as store:
                    entry = {"db": kind, "path": path, "batch": args.batch,
                             "rollup": args.rollup,
                             **ingest(store, rows, args.batch, copy, args.rollup)}
                results.append(entry)
                if not args.json:
                    size = (f"; {entry['heap_bytes_per_row']} B/row heap, "
                            f"{entry['bytes_per_row_with_indexes']} B/row with indexes"
                            if "heap_bytes_per_row" in entry else "")
                    if "disk_bytes_per_row" in entry:
                        size = f"; {entry['disk_bytes_per_row']} B/row on disk (compressed)"
                    print(f"{kind:<9} {path:<6} {rows:>10,} requests (+{rows // 10:,} feedback):"
                          f" {entry['rows_per_s']:>8,} rows/s ({entry['seconds']} s, client "
                          f"{entry['client_cpu_us_per_row']} us CPU/row){size}",
                          flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
