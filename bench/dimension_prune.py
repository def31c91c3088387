"""Retention of the values and shapes no event uses (`rampway.events.dimensions`): how long
`prune_unused` takes to delete them, on SQLite and PostgreSQL.

    .venv/bin/python bench/dimension_prune.py [--rows 100000 1000000] [--db sqlite postgres]
                                              [--batch 50000] [--json]

Rows: `--rows` distinct attribute values in `event_values` and as many shapes in
`event_shapes`, half of them last used 100 days ago (to delete), half a day ago (to keep), in
random order of id; a request event a day old, so the horizon is the cutoff's (30 days). Only
`prune_unused` is timed. Databases as in bench/judge_look.py (a temporary SQLite file, a fresh
PostgreSQL database, dropped afterwards).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge_look import database  # noqa: E402

from rampway.events import RequestEvent  # noqa: E402
from rampway.events.dimensions import prune_unused  # noqa: E402
from rampway.events.sink import SqlEventSink  # noqa: E402
from rampway.events.tables import SHAPE_FIELDS, event_shapes, event_values  # noqa: E402
from rampway.store import Store  # noqa: E402

DAY = 86400.0
_CHUNK = 10_000


def fill(store: Store, rows: int, now: float) -> None:
    """`rows` values and shapes, every other one (in a random order) old."""
    rng = np.random.default_rng(7)
    old = rng.permutation(rows) % 2 == 0
    stamps = np.where(old, now - 100 * DAY, now - DAY)
    for start in range(0, rows, _CHUNK):
        stop = min(rows, start + _CHUNK)
        with store.transaction() as conn:
            conn.execute(event_values.insert(), [
                {"digest": f"v{i:031d}", "value": {"deploy": i}, "last_used": float(stamps[i])}
                for i in range(start, stop)])
            conn.execute(event_shapes.insert(), [
                dict.fromkeys(SHAPE_FIELDS) | {
                    "digest": f"s{i:031d}", "source": "gateway", "protocol": "openai",
                    "model": f"m-{i}", "last_used": float(stamps[i])}
                for i in range(start, stop)])
    SqlEventSink(store, clock=lambda: now - DAY).write(
        [RequestEvent(id="kept", ts=now - DAY, feature="f")], [])


def run(kind: str, rows: int, batch: int) -> dict[str, Any]:
    now = time.time()
    with database(kind) as url, Store.open(url) as store:
        fill(store, rows, now)
        started = time.perf_counter()
        pruned = prune_unused(store, now - 30 * DAY, batch=batch)
        seconds = time.perf_counter() - started
    deleted = pruned.values + pruned.shapes
    return {"db": kind, "rows": rows, "batch": batch, "values": pruned.values,
            "shapes": pruned.shapes, "seconds": round(seconds, 3),
            "rows_per_s": round(deleted / seconds) if seconds else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", choices=["sqlite", "postgres"], nargs="+",
                        default=["sqlite", "postgres"])
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run(kind, rows, args.batch) for rows in args.rows for kind in args.db]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"{r['db']:8} {r['rows']:>9} values+shapes each: deleted {r['values']} values "
              f"and {r['shapes']} shapes in {r['seconds']} s ({r['rows_per_s']} rows/s, "
              f"batch {r['batch']})")


if __name__ == "__main__":
    main()
