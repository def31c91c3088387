"""PostgreSQL event partitions (`rampway.events.partitions`): what retention's drop of a day
costs against deleting the same rows, the bytes per row of a day partition, and what the
migration that partitions an existing store (`events_0009`) costs.

    .venv/bin/python bench/partitions.py [--rows 1000000] [--json]

Rows: bench/ingestion.py's realistic request events (no texts; one feedback per 10 requests),
written through the event sink (COPY). Each figure is measured once, on fresh databases on
127.0.0.1:5432 (dropped afterwards):

* drop vs delete: two UTC days of `--rows` request rows each (the second a server-side copy of
  the first, 86,400 s later); one day dropped as retention drops it (`prune`, the partition
  whole), the other's rows deleted as retention deleted them before (batches of 50,000 ids,
  `DELETE … WHERE id IN (…)`), then the VACUUM that deleting leaves to do;
* bytes per row: `pg_total_relation_size` (heap, TOAST and indexes) of the day partitions over
  their rows, after VACUUM ANALYZE, and the heap alone;
* migration: a store at `events_0008` holding `--rows` request rows is opened by this code
  (`Store.open` upgrades it to `events_0009`): seconds, and whether the table was rewritten
  (its relfilenode).
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

from rampway.events import partitions as parts  # noqa: E402
from rampway.events.retention import _delete_batches, prune  # noqa: E402
from rampway.events.sink import SqlEventSink  # noqa: E402
from rampway.events.tables import request_events  # noqa: E402
from rampway.store import Store, alembic_config, parse_url  # noqa: E402

DAY = parts.DAY
START = 1.7e9  # where bench/ingestion.py's rows start (2023-11-14)
BATCH = 20_000


def fill(store: Store, rows: int) -> None:
    sink = SqlEventSink(store, rollup=False)
    rng = np.random.default_rng(1)
    for start in range(0, rows, BATCH):
        sink.write(*events(start, min(BATCH, rows - start), rng, max(1, rows // 20)))


def copy_day(store: Store) -> None:
    """The day of START again, one day later (new ids), server-side."""
    names = [c.name for c in request_events.columns]
    picked = ", ".join("'b' || id" if n == "id" else "ts + 86400" if n == "ts" else n
                       for n in names)
    with store.transaction() as conn:
        conn.execute(sa.text(f"INSERT INTO request_events ({', '.join(names)}) "  # noqa: S608
                             f"SELECT {picked} FROM request_events"))


def drop_vs_delete(rows: int) -> dict[str, Any]:
    with database("postgres") as url, Store.open(url) as store:
        first = parts.day_start(START)
        with store.transaction() as conn:
            for table in parts.TABLES:  # days from START: the legacy range must go (empty)
                conn.execute(sa.text(f"DROP TABLE {table}_legacy"))
                for d in range(3):
                    parts.create_day(conn, table, first + d * DAY)
        fill(store, rows)
        copy_day(store)
        size = sizes(store, rows)
        drops: list[float] = []
        timer = _drop_timer(store, drops)
        t = time.perf_counter()
        result = prune(store, first + DAY)
        dropped = time.perf_counter() - t
        sa.event.remove(store.engine, "before_cursor_execute", timer[0])
        sa.event.remove(store.engine, "after_cursor_execute", timer[1])
        assert [p.name for p in result.dropped if p.table == "request_events"] == [
            parts.day_name("request_events", first)]
        day_b = parts.Partition("request_events", parts.day_name("request_events", first + DAY),
                                first + DAY, first + 2 * DAY)
        t = time.perf_counter()
        deleted, done = _delete_batches(store, parts.rows_table(day_b), first + 2 * DAY,
                                        50_000, None, time.monotonic)
        deleting = time.perf_counter() - t
        assert done and deleted == rows
        t = time.perf_counter()
        vacuum(store, day_b.name)
        vacuuming = time.perf_counter() - t
    return {"rows_per_day": rows, "prune_dropping_day_s": round(dropped, 3),
            "drop_table_statements_s": round(sum(drops), 3),
            "delete_day_s": round(deleting, 2), "vacuum_after_delete_s": round(vacuuming, 2),
            **size}


def _drop_timer(store: Store, into: list[float]) -> tuple[Any, Any]:
    """Collects the seconds of each DROP TABLE statement the engine runs."""

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DROP TABLE"):
            into.append(time.perf_counter() - conn.info["started"])

    sa.event.listen(store.engine, "before_cursor_execute", before)
    sa.event.listen(store.engine, "after_cursor_execute", after)
    return before, after


def vacuum(store: Store, table: str) -> None:
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def sizes(store: Store, rows: int) -> dict[str, int]:
    """Bytes per request row over the day partitions that hold rows, after VACUUM ANALYZE."""
    vacuum(store, "request_events")
    with store.reading() as conn:
        held = [p.name for p in parts.partitions(conn, "request_events")
                if (p.rows_estimate or 0) > 0]
        total = heap = 0
        for name in held:
            t, h = conn.execute(sa.text("SELECT pg_total_relation_size(:n), pg_table_size(:n)"),
                                {"n": name}).one()
            total, heap = total + int(t), heap + int(h)
    stored = 2 * rows
    return {"bytes_per_row_with_indexes": round(total / stored),
            "heap_bytes_per_row": round(heap / stored)}


def migration(rows: int) -> dict[str, Any]:
    with database("postgres") as url:
        engine = sa.create_engine(parse_url(url))
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "events_0008")
        engine.dispose()
        old = Store(sa.create_engine(parse_url(url)))  # not opened: stays at events_0008
        try:
            fill(old, rows)
            with old.engine.connect() as conn:
                node = conn.scalar(sa.text("SELECT pg_relation_filenode('request_events')"))
        finally:
            old.close()
        t = time.perf_counter()
        with Store.open(url) as store:
            seconds = time.perf_counter() - t
            with store.reading() as conn:
                after = conn.scalar(sa.text(
                    "SELECT pg_relation_filenode('request_events_legacy')"))
                held = conn.scalar(sa.text("SELECT count(*) FROM request_events_legacy"))
    return {"rows": rows, "migration_s": round(seconds, 2), "rewritten": node != after,
            "rows_in_legacy": held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"drop_vs_delete": drop_vs_delete(args.rows), "migration": migration(args.rows)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    d, m = results["drop_vs_delete"], results["migration"]
    print(f"a day of {d['rows_per_day']:,} request rows: pruned (dropped) in "
          f"{d['prune_dropping_day_s']} s ({d['drop_table_statements_s']} s of DROP TABLE), "
          f"deleted in {d['delete_day_s']} s (+ {d['vacuum_after_delete_s']} s of VACUUM); "
          f"{d['bytes_per_row_with_indexes']} B/row with indexes, "
          f"{d['heap_bytes_per_row']} B/row heap")
    print(f"migrating a store of {m['rows']:,} request rows: {m['migration_s']} s, "
          f"rewritten: {m['rewritten']}")


if __name__ == "__main__":
    main()
