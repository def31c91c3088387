"""Where a request row's bytes go: the event table's heap and each of its indexes, per row, on
SQLite and PostgreSQL (issue #18: compact events, ≤ 250 B per request row without texts).

    .venv/bin/python bench/event_size.py [--rows 200000] [--db sqlite postgres] [--json]
                                         [--migration]

Rows: bench/ingestion.py's realistic request events (one feature, two arms, ~20 requests per
user, attributes and two flag evaluations as JSON, no texts), written through the event sink in
batches of 5,000 (the ingestion rate is printed too). Databases as in bench/judge_look.py.

PostgreSQL: `pg_table_size` (heap + TOAST + free-space map) and `pg_relation_size` of each index,
summed over the partitions of `request_events`, after VACUUM ANALYZE; plus the mean
`pg_column_size` of each column (what the heap's tuples are made of; a tuple also has a 24-byte
header and a 4-byte line pointer). SQLite: `dbstat`'s pages of the table and of each index.

`--migration`: instead, the seconds `events_0010` takes to convert a store at `events_0009`
holding `--rows` request rows with JSON attributes and flags (written server-side, three
distinct values of each), then `events_0011` its shapes (three distinct), measured as
`Store.open` (which upgrades it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingestion import events  # noqa: E402
from judge_look import database  # noqa: E402

from rampway.events.sink import SqlEventSink  # noqa: E402
from rampway.store import Store, alembic_config, parse_url  # noqa: E402

BATCH = 5000


def fill(store: Store, rows: int) -> float:
    """Write `rows` requests (and their feedback) through the sink; request rows per second."""
    sink = SqlEventSink(store, rollup=False)
    rng = np.random.default_rng(1)
    users = max(1, rows // 20)
    spent = 0.0
    for start in range(0, rows, BATCH):
        batch = events(start, min(BATCH, rows - start), rng, users)
        t = time.perf_counter()
        sink.write(*batch)
        spent += time.perf_counter() - t
    return rows / spent


def postgres_sizes(store: Store, rows: int) -> dict[str, Any]:
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        tables = [str(r[0]) for r in conn.exec_driver_sql(
            "SELECT relid::regclass::text FROM pg_partition_tree('request_events') "
            "UNION SELECT 'request_texts' WHERE to_regclass('request_texts') IS NOT NULL")]
        heap = 0
        indexes: dict[str, int] = {}
        for table in tables:
            heap += int(conn.scalar(sa.text("SELECT pg_table_size(:t)"), {"t": table}) or 0)
            for definition, size in conn.execute(sa.text(
                    "SELECT pg_get_indexdef(i.indexrelid), pg_relation_size(i.indexrelid) "
                    "FROM pg_index i WHERE i.indrelid = to_regclass(:t)"), {"t": table}):
                # one key per index across partitions: its columns, e.g. "(feature, ts)"
                key = str(definition).split(" USING btree ", 1)[-1]
                indexes[key] = indexes.get(key, 0) + int(size)
        columns = _column_sizes(conn, tables)
    return _per_row(heap, indexes, rows) | {"column_bytes": columns}


def _column_sizes(conn: sa.Connection, tables: list[str]) -> dict[str, float]:
    """Mean pg_column_size of each column of the partition that holds the most rows."""
    biggest = max(tables, key=lambda t: int(conn.scalar(
        sa.text("SELECT pg_relation_size(:t)"), {"t": t}) or 0))
    names = [str(r[0]) for r in conn.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum"), {"t": biggest})]
    q = conn.dialect.identifier_preparer.quote
    picked = ", ".join(f"avg(coalesce(pg_column_size({q(n)}), 0))" for n in names)
    means = conn.execute(sa.text(f"SELECT {picked} FROM {q(biggest)}")).one()  # noqa: S608
    return {n: round(float(m), 1) for n, m in zip(names, means, strict=True)}


def _index_key(name: str, table: str) -> str:
    """`ix_request_events_feature_ts` → `feature_ts`."""
    return name.removeprefix("ix_").removeprefix(table + "_") or name


def sqlite_sizes(store: Store, rows: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name").all()
        owners = dict(conn.exec_driver_sql(
            "SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')").all())
    heap = 0
    indexes: dict[str, int] = {}
    for name, size in pages:
        table = owners.get(name)
        if name in ("request_events", "request_texts"):
            heap += int(size)
        elif table in ("request_events", "request_texts"):
            indexes[_index_key(str(name), str(table))] = int(size)
    return _per_row(heap, indexes, rows)


def _per_row(heap: int, indexes: dict[str, int], rows: int) -> dict[str, Any]:
    total = heap + sum(indexes.values())
    return {"heap_bytes_per_row": round(heap / rows),
            "index_bytes_per_row": {k: round(v / rows, 1) for k, v in sorted(indexes.items())},
            "total_bytes_per_row": round(total / rows)}


def measure(kind: str, rows: int) -> dict[str, Any]:
    with database(kind) as url, Store.open(url) as store:
        rate = fill(store, rows)
        sizes = postgres_sizes(store, rows) if kind == "postgres" else sqlite_sizes(store, rows)
    return {"db": kind, "rows": rows, "request_rows_per_s": round(rate)} | sizes


OLD_ROWS = """INSERT INTO request_events (id, ts, feature, release_id, arm, unit_hash, attributes,
  source, protocol, stream, provider, model, served_model, system_fingerprint, finish_reason,
  attempts, fallback_used, status, http_status, latency_ms, input_tokens, output_tokens,
  cached_tokens, cost_usd, refusal, output_chars, flags, hedged)
SELECT 'req_' || i, 1.7e9 + i * 0.0004, 'support-bot', 'support-bot@3f2a9c1e', 'baseline',
  md5(i::text), jsonb_build_object('plan', 'p' || (i % 3), 'region', 'eu'), 'gateway', 'openai',
  true, 'openai', 'gpt-4o-mini', 'gpt-4o-mini-2024-07-18', 'fp_' || (i % 3), 'stop',
  1, false, 'ok', 200, 800, 52, 120, 0, 0.001, false, 400,
  jsonb_build_object('support-bot.model', jsonb_build_object('value', 'm' || (i % 3),
    'reason', 'TARGETING_MATCH', 'rule', 0)), false
FROM generate_series(1, :rows) AS i"""


def migration(rows: int) -> dict[str, Any]:
    """PostgreSQL: seconds to upgrade a store of `rows` request rows from `events_0009` to
    `events_0010`, then from there to the head (`events_0011`, as `Store.open` does)."""
    with database("postgres") as url:
        engine = sa.create_engine(parse_url(url))
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "events_0009")
            conn.execute(sa.text(OLD_ROWS), {"rows": rows})
        t = time.perf_counter()
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "events_0010")
        values = time.perf_counter() - t
        engine.dispose()
        t = time.perf_counter()
        with Store.open(url):
            shapes = time.perf_counter() - t
    return {"db": "postgres", "rows": rows, "events_0010_s": round(values, 2),
            "events_0011_s": round(shapes, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], nargs="+",
                        default=["sqlite", "postgres"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--migration", action="store_true")
    args = parser.parse_args()
    if args.migration:
        print(json.dumps(migration(args.rows)))
        return
    results = [measure(kind, args.rows) for kind in args.db]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"{r['db']}: {r['rows']:,} request rows, {r['request_rows_per_s']:,} rows/s; "
              f"{r['total_bytes_per_row']} B/row = heap {r['heap_bytes_per_row']} + indexes "
              + ", ".join(f"{k} {v}" for k, v in r["index_bytes_per_row"].items()))
        if "column_bytes" in r:
            print("  mean column bytes: " + ", ".join(
                f"{k} {v}" for k, v in r["column_bytes"].items()))


if __name__ == "__main__":
    main()
