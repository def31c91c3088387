"""Bench: server-side render time of every dashboard page, with many request events stored.

The store is seeded as the dashboard tests seed it (`tests/dashboard/dashboard_seed.py`: the
timeline's history, a rollout in flight with looks, a failing gate report, a running experiment
with traffic, a shadow with 360 pairs), then `--events` more request events of the last hour
are added to the rollout's feature, bulk-loaded around the event sink and then rolled up for
the overview's health panel by `rampway.events.health.rebuild` (what `rampway events
rebuild-health` does for events that predate the roll-up; the gateway's sink keeps it per batch).
Each page is rendered in-process (httpx over ASGI, signed in as a viewer), on two apps:

- "miss": a dashboard made just before, not warmed: each page's first view, which computes the
  experiment's and shadow's analysis (later views serve it from the cache until new events
  arrive, then a background thread recomputes it) and may compile its template (a thread
  compiles them all when the first dashboard of the process is made). A viewer pays this when
  arriving during the warm-up below, or at a new experiment's first view.
- "first", then median and p95 of `--repeats` more: a second dashboard warmed as the server
  warms it at start (`warm_in_background`), the bench waiting for the warm-up to end (its
  time is printed): the first view of a user who arrives after it.

    .venv/bin/python bench/dashboard_pages.py [--db sqlite|postgresql+psycopg://…]
                                              [--events 1000000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

TESTS = Path(__file__).resolve().parent.parent / "tests"
for area in ("dashboard", "timeline", "rollout", "experiments", "gateway", "shadow"):
    sys.path.insert(0, str(TESTS / area))

from dashboard_seed import (  # noqa: E402  (found through the path set above)
    failing_gate,
    live_rollout,
    running_experiment,
    verbose_shadow,
)
from rollout_helpers import FEATURE  # noqa: E402

from rampway.admin import Role, create_admin_key  # noqa: E402
from rampway.dashboard import create_dashboard_app  # noqa: E402
from rampway.dashboard.app import warm_in_background  # noqa: E402
from rampway.events.health import rebuild  # noqa: E402
from rampway.events.tables import request_events  # noqa: E402
from rampway.events.values import with_shape_ids  # noqa: E402
from rampway.store import Store  # noqa: E402

CHUNK = 50_000


def add_events(store: Store, n: int, release: str) -> None:
    """`n` plain request events of FEATURE spread over the last hour (arm production)."""
    now = time.time()
    for start in range(0, n, CHUNK):
        rows = [{
            "id": f"bench_{i}", "ts": now - 3600 + 3600 * i / n, "feature": FEATURE,
            "release_id": release, "arm": "production", "unit_hash": f"u{i % 50_000}",
            "source": "gateway", "protocol": "openai", "stream": False, "provider": "sim",
            "model": "sim-large", "attempts": 1, "fallback_used": i % 50 == 0,
            "status": "ok" if i % 40 else "error", "http_status": 200 if i % 40 else 502,
            "latency_ms": 200.0 + (i * 7919) % 900, "input_tokens": 30, "output_tokens": 60,
            "cached_tokens": 0, "cost_usd": 0.0004, "refusal": False, "output_chars": 240,
        } for i in range(start, min(n, start + CHUNK))]
        with store.transaction() as conn:
            conn.execute(request_events.insert(), with_shape_ids(conn, rows))


async def time_pages(app: Starlette, key: str, pages: list[str],
                     repeats: int) -> dict[str, list[float]]:
    """Per page: the first render's time, then `repeats` more."""
    transport = httpx.ASGITransport(app=app)
    out: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as ui:
        await ui.post("/ui/login", data={"key": key, "next": "/ui/"})
        for path in pages:
            times = []
            for _ in range(repeats + 1):
                t0 = time.perf_counter()
                r = await ui.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            out[path] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
        with Store.open(url) as store:
            t0 = time.perf_counter()
            live = live_rollout(store)
            gate = failing_gate(store, live.seeded.candidate, live.seeded.baseline)
            experiment = running_experiment(store)
            shadow = verbose_shadow(store, live.seeded.baseline, live.seeded.candidate)
            add_events(store, args.events, live.seeded.baseline)
            t1 = time.perf_counter()
            rolled = rebuild(store, time.time() - 86400)
            print(f"rolled up {rolled.events:,} events in {time.perf_counter() - t1:.1f} s")
            if store.engine.dialect.name == "postgresql":  # what autovacuum does after a bulk
                with store.engine.connect() as conn:      # load: without statistics the
                    conn.execute(sa.text("ANALYZE"))      # planner guesses 1 row per filter
                    conn.commit()
            print(f"seeded {args.events:,} events in {time.perf_counter() - t0:.1f} s ({url})")
            pages = [
                "/ui/", f"/ui/features/{FEATURE}", f"/ui/rollouts/{FEATURE}",
                f"/ui/gates/{FEATURE}/{gate.id}",
                f"/ui/experiments/{experiment.name}/{experiment.id}",
                f"/ui/shadows/{shadow.name}", "/ui/flags", "/ui/requests",
                f"/ui/requests?feature={FEATURE}&status=error", "/ui/audit",
            ]
            _, key = create_admin_key(store, "bench", Role.VIEWER, actor="bench", reason="bench")
            missed = asyncio.run(time_pages(create_dashboard_app(store), key, pages, 0))
            served = create_dashboard_app(store)
            t2 = time.perf_counter()
            warm_in_background(served).join()
            print(f"warmed the served dashboard in {time.perf_counter() - t2:.2f} s")
            found = asyncio.run(time_pages(served, key, pages, args.repeats))
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} after the run")
    print(f"{'page':50} {'miss ms':>8} {'first ms':>9} {'median ms':>10} {'p95 ms':>8}")
    for path, (first, *times) in found.items():
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        print(f"{path:50} {missed[path][0]:8.1f} {first:9.1f} {statistics.median(times):10.1f}"
              f" {p95:8.1f}")


if __name__ == "__main__":
    main()
