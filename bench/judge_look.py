"""One rollout judge look over a large window: per-unit totals computed by the database
(`rampway.rollout.totals`, what the controller runs) against the per-request read
(`rampway.rollout.extract.load_samples` + numpy, what it ran before), and against the
roll-up the event sink keeps per batch (`rampway.rollout.rollup.load_look`, what the
controller now calls first: two rows read per look, plus its coverage checks — a probe past
the window's end and a spot check of the window's newest requests; its cost at ingestion is
timed while filling, as µs per row; the look is timed before and after the window's first
seconds are merged into it, `rollup.merge_guard`).

    .venv/bin/python bench/judge_look.py [--rows 100000 1000000] [--db sqlite|postgres]
        [--paths per-request in-database rollup] [--json]

Rows: one feature, two arms at 50%, ~20 requests per user, 2% errors, log-normal latency,
streamed ttft, output tokens and cost; guardrails: error rate, p95 latency, p95 ttft, cost,
output length (the example plan's request metrics). PostgreSQL: a fresh database on
127.0.0.1:5432 (dropped afterwards); SQLite: a temporary file. Each figure is the best of 3.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from rampway.events import RequestEvent
from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.rollout import Guardrail, judge
from rampway.rollout._judge import judge_totals
from rampway.rollout.extract import load_samples
from rampway.rollout.metrics import metric_def
from rampway.rollout.rollup import Rollup, load_look, merge_guard, open_segment
from rampway.rollout.totals import load_totals
from rampway.store import Store

FEATURE = "support-bot"
SINCE = 1000.0  # the window (and the roll-up's segment) starts with the first row
RELEASES = {"baseline": "support-bot@base", "candidate": "support-bot@cand"}
GUARDRAILS = [Guardrail.model_validate({"metric": m, "margin": {"relative": 0.2}})
              for m in ("error_rate", "latency_p95", "ttft_p95", "cost_per_request",
                        "output_length")]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"rampway_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fill(store: Store, rows: int, seed: int = 1, rollup: bool = False,
         rate: float = 100.0) -> float:
    """Insert the rows; with `rollup`, also roll them up (segment from 0) in the same
    transactions, and return the seconds spent rolling up."""
    rng = np.random.default_rng(seed)
    rolling = Rollup(store.engine.dialect) if rollup else None
    spent = 0.0
    if rolling is not None:
        with store.transaction() as conn:
            open_segment(conn, FEATURE, SINCE)
    users = max(1, rows // 20)
    batch = 20_000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        unit = rng.integers(users, size=n)
        arm = np.where(unit % 2 == 0, "baseline", "candidate")
        error = rng.random(n) < 0.02
        latency = 800 * np.exp(0.5 * rng.standard_normal(n))
        docs: list[dict[str, Any]] = [{
            "id": f"r{start + i}", "ts": SINCE + (start + i) / rate, "feature": FEATURE,
            "release_id": RELEASES[str(arm[i])], "arm": str(arm[i]),
            "unit_hash": f"{int(unit[i]):064x}", "source": "gateway",
            "protocol": "openai", "stream": True, "provider": "sim", "model": "sim-large",
            "attempts": 1, "fallback_used": False, "status": "error" if error[i] else "ok",
            "http_status": 502 if error[i] else 200, "error_code": None,
            "latency_ms": float(latency[i]), "ttft_ms": float(latency[i]) * 0.2,
            "input_tokens": 50, "output_tokens": int(100 + unit[i] % 50), "cached_tokens": 0,
            "cost_usd": 0.001 + float(unit[i] % 7) * 1e-4, "refusal": False,
            "finish_reason": "stop", "output_chars": 400, "prompt_text": None,
            "response_text": None,
        } for i in range(n)]
        with store.transaction() as conn:
            conn.execute(request_events.insert(), with_shape_ids(conn, docs))
            if rolling is not None:
                events = [RequestEvent(**d) for d in docs]
                t = time.process_time()
                for part in range(0, n, 5000):  # the sink's batches
                    rolling.apply(conn, events[part:part + 5000])
                spent += time.process_time() - t
    return spent


def best_of(fn: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def look_per_request(store: Store) -> None:
    samples = load_samples(store, feature=FEATURE, releases=RELEASES, since=SINCE, until=1e12)
    for g in GUARDRAILS:
        source = metric_def(g.metric).source
        judge(samples["baseline"].observations(source), samples["candidate"].observations(source),
              g, alpha=0.004)


def look_in_database(store: Store) -> None:
    look = load_totals(store, feature=FEATURE, releases=RELEASES, guardrails=GUARDRAILS,
                       since=SINCE, until=1e12)
    for g, (b, c), q in zip(GUARDRAILS, look.totals, look.quantiles, strict=True):
        judge_totals(b, c, g, alpha=0.004, quantiles=q)


def look_rollup(store: Store) -> None:
    look = load_look(store, feature=FEATURE, releases=RELEASES, guardrails=GUARDRAILS,
                     since=SINCE, until=1e12)
    assert look is not None, "the roll-up does not cover the window"
    for g, (b, c), q in zip(GUARDRAILS, look.totals, look.quantiles, strict=True):
        judge_totals(b, c, g, alpha=0.004, quantiles=q)


def differences(store: Store) -> dict[str, Any]:
    """Per guardrail: the two paths' verdicts and the largest estimate/bound difference."""
    out: dict[str, Any] = {}
    window = {"feature": FEATURE, "releases": RELEASES, "guardrails": GUARDRAILS,
              "since": SINCE, "until": 1e12}
    exact, rolled = load_totals(store, **window), load_look(store, **window)
    assert rolled is not None
    for i, g in enumerate(GUARDRAILS):
        a = judge_totals(*exact.totals[i], g, alpha=0.004, quantiles=exact.quantiles[i])
        b = judge_totals(*rolled.totals[i], g, alpha=0.004, quantiles=rolled.quantiles[i])
        out[g.metric] = {
            "verdicts": [a.verdict.value, b.verdict.value],
            "max_abs_diff": max(abs(getattr(a, f) - getattr(b, f))
                                for f in ("estimate", "lower", "upper")),
            "quantiles": [exact.quantiles[i], rolled.quantiles[i]],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", choices=["sqlite", "postgres"], nargs="+",
                        default=["sqlite", "postgres"])
    parser.add_argument("--paths", nargs="+", choices=["per-request", "in-database", "rollup"],
                        default=["per-request", "in-database", "rollup"])
    parser.add_argument("--rate", type=float, default=100.0,
                        help="requests per second of the rows' timestamps (the roll-up's "
                        "look reads the window's first 5 s from the event log)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for kind in args.db:
        for rows in args.rows:
            with database(kind) as url, Store.open(url) as store:
                t = time.perf_counter()
                rolled = fill(store, rows, rollup="rollup" in args.paths, rate=args.rate)
                filled = time.perf_counter() - t
                if kind == "postgres":
                    with store.transaction() as conn:
                        conn.exec_driver_sql("ANALYZE")
                entry: dict[str, Any] = {"db": kind, "rows": rows, "rate": args.rate,
                                         "fill_s": round(filled, 1)}
                looks = {"per-request": look_per_request, "in-database": look_in_database,
                         "rollup": look_rollup}
                if "rollup" in args.paths:  # before the guard window is merged
                    entry["rollup_unmerged_s"] = round(
                        best_of(lambda s=store: look_rollup(s)), 3)
                    merge_guard(store, FEATURE, SINCE)
                for path in args.paths:
                    entry[path.replace("-", "_") + "_s"] = round(
                        best_of(lambda s=store, f=looks[path]: f(s)), 3)
                if "rollup" in args.paths:
                    entry["rollup_cpu_us_per_row"] = round(rolled / rows * 1e6, 1)
                    if "in-database" in args.paths:
                        entry["differences"] = differences(store)
            results.append(entry)
            if not args.json:
                print(json.dumps(entry), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
