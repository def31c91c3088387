"""`rampway experiment analyze` over a large event log: wall time and the client's peak memory.

    .venv/bin/python bench/experiment_analysis.py [--rows 100000 1000000]
                                                  [--db sqlite postgres chdb]

Rows: one feature, two arms at 50%, ~20 requests per user (per-user latency and error
propensity, so requests of a user are alike), a thumbs-up feedback on 30% of requests; the
experiment's primary metric is feedback:thumbs_up, with conversion, latency_p95 and
cost_per_unit as secondary metrics and error_rate + latency_p95 as guardrails. The analysis is
`rampway.experiments.analyze` exactly as the CLI runs it. Each figure is the best of 2; peak
memory is the process's max RSS growth during the analyses (on Linux the peak is reset after
the fill, so the fill's own peak does not hide the analyses').

PostgreSQL rows are made by the server (`fill_sql`: `INSERT … SELECT` over `generate_series`,
the same distributions): 5 s for 100k, 53 s for 1M, 22 min for 10M into the indexed,
partitioned table on the loaded 2-core machine; `--keep DB…` reuses filled databases.

`--path rollup` analyses the same record from the experiment's roll-up
(`rampway.experiments.rollup`: one row per unit, its latency histograms, the feedback joined
to its units) instead: its segment opened after the fill and backfilled by one `merge` (timed
as "backfill"), then analysed from the roll-up and, for comparison, from the event log
(`rollup=False`); both reports must agree — to 1e-9, the
p95's to its tolerance (`rampway.experiments.rollup_quantiles`: the quantile within 1.1%, its
standard error within 5%; the largest differences are printed). `--path events` (the default)
is the analysis above.

`--sink` measures what the experiments' roll-up costs the sink: requests/s of `SqlEventSink`
writing 50k of these requests in batches of 500, with no experiment on the feature and with
one (the segment open and merged); run it with `PYTHONPATH` at another checkout's `src` to
compare versions (the latency histograms' names are imported where used, so that the bench
loads on a version without them).

`--rollup-feedback-units` times the feedback metrics (`feedback_record()`, served by
`rampway.experiments.rollup_feedback`) over a 10M stand-in with feedback rows
(`rollup_feedback_units`).

`chdb` puts the same rows in ClickHouse's embedded engine (`rampway.events.clickhouse`, the
`rampway[clickhouse]` extra) and analyses them there: the engine runs inside the bench's
process, so its peak RSS growth includes the engine's own working memory (against a
ClickHouse server the client holds only the per-unit rows). The chdb rows are the same as the
SQL fill's (same random draws) but made fast — generated as columns and inserted straight
through the backend in blocks of 1M requests, then merged: 10M rows in a few minutes; the
sink's own write path is what `bench/ingestion.py` measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge_look import database  # noqa: E402

from rampway.events.tables import (  # noqa: E402
    feedback_events,
    request_event_fields,
    request_events,
)
from rampway.events.values import with_shape_ids  # noqa: E402
from rampway.experiments import rollup  # noqa: E402
from rampway.experiments.analysis import analyze  # noqa: E402
from rampway.experiments.model import Arm, ExperimentRecord, Guardrail  # noqa: E402
from rampway.experiments.report import ExperimentReport, to_json  # noqa: E402
from rampway.experiments.tables import (  # noqa: E402
    experiment_rollup_segments,
    experiment_rollup_units,
)
from rampway.store import Store  # noqa: E402

FEATURE = "support-bot"
T0 = 1_700_000_000.0
DAY = 86_400.0
ARMS = (Arm("control", "support-bot@c", 5000), Arm("friendly", "support-bot@t", 5000))


def record() -> ExperimentRecord:
    return ExperimentRecord(
        id=1, name="tone", feature=FEATURE, status="running", arms=ARMS, coverage_bp=10_000,
        salt="s", unit="user", primary="feedback:thumbs_up",
        secondary=("conversion:thumbs_up", "latency_p95", "cost_per_unit"),
        guardrails=(Guardrail("error_rate", "increase"), Guardrail("latency_p95", "increase")),
        alpha=0.05, min_runtime_s=7 * DAY, started_at=T0, stopped_at=None,
    )


def rolled_record() -> ExperimentRecord:
    """`record()` without feedback metrics, for `rollup_units`' stand-in (no feedback rows):
    latency_p95 as a secondary metric and a guardrail, as in `record()`."""
    return replace(record(), primary="error_rate",
                   secondary=("latency_p95", "cost_per_unit", "latency_ms",
                              "requests_per_unit", "retention:1d"),
                   guardrails=(Guardrail("error_rate", "increase"),
                               Guardrail("latency_p95", "increase"),
                               Guardrail("cost_per_unit", "increase")))


def backfill(store: Store) -> float:
    """Open the roll-up's segment of `rolled_record()` after the fill (as for an experiment
    started before the roll-up existed) and merge its window: seconds taken by the merge."""
    rec = rolled_record()
    with store.transaction() as conn:
        rollup.open_segment(conn, rec.id, rec.feature, rec.started_at, T0 + 10 * DAY,
                            rec.unit, rec.arms)
    t = time.perf_counter()
    rollup.merge(store, rec.id)
    return time.perf_counter() - t


def fill(store: Store, rows: int, seed: int = 1) -> None:
    if store.engine.dialect.name == "postgresql":
        fill_sql(store, rows, seed)
        return
    for docs, feedback in batches(rows, seed):
        with store.transaction() as conn:
            conn.execute(request_events.insert(), with_shape_ids(conn, docs))
            conn.execute(feedback_events.insert(), feedback)


def fill_sql(store: Store, rows: int, seed: int = 1) -> None:
    """PostgreSQL: the same kind of rows made by the server (`INSERT … SELECT` over
    `generate_series`), ~10x faster than sending them: the users' latency offsets and error
    propensities come from numpy (`batches`' distributions) into a temporary table, then each
    request picks a random user and draws its latency (log-normal, Box-Muller), status and
    time with `random()` (seeded by `setseed`), and 30% of requests get a feedback row (with
    its request's unit, as the SQL sink fills it: `rampway.events.sink.FeedbackUnits`)."""
    rng = np.random.default_rng(seed)
    users = max(2, rows // 20)
    offset = rng.normal(0, 0.25, users)
    propensity = rng.beta(0.1, 4.9, users)
    arms = ", ".join(f"('{a.name}', '{a.release_id}', {i})" for i, a in enumerate(ARMS))
    with store.transaction() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_users (u int PRIMARY KEY, "
                             "off float8, prop float8) ON COMMIT DROP")
        raw: Any = conn.connection.driver_connection
        with raw.cursor().copy("COPY bench_users FROM STDIN") as copy:
            for u in range(users):
                copy.write_row((u, float(offset[u]), float(propensity[u])))
        conn.exec_driver_sql(f"SELECT setseed({seed / 100})")
        # every row has one shape (source, protocol, provider, model, finish reason): its id
        (shape,) = with_shape_ids(conn, [{"id": "r", "source": "gateway", "protocol": "openai",
                                          "provider": "sim", "model": "sim-large",
                                          "finish_reason": "stop"}])
        conn.exec_driver_sql(f"""
            INSERT INTO request_events (id, ts, feature, release_id, arm, unit_hash, shape_id,
                stream, attempts, fallback_used, status,
                http_status, latency_ms, input_tokens, output_tokens, cached_tokens, cost_usd,
                refusal, output_chars)
            SELECT 'r' || r.i, {T0} + random() * {9 * DAY}, '{FEATURE}', a.release_id,
                   a.name, lpad(to_hex(r.u), 64, '0'), {int(shape["shape_id"])}, false,
                   1, false, CASE WHEN r.failed THEN 'error' ELSE 'ok' END,
                   CASE WHEN r.failed THEN 502 ELSE 200 END,
                   800 * exp(r.off + 0.5 * sqrt(-2 * ln(1 - random()))
                             * cos(2 * pi() * random())),
                   50, 120, 0, 0.001, false, 400
            FROM (SELECT s.i, s.u, b.off, random() < b.prop AS failed
                  FROM (SELECT i, floor(random() * {users})::int AS u
                        FROM generate_series(0, {rows - 1}) AS i) AS s
                  JOIN bench_users AS b ON b.u = s.u) AS r
            JOIN (VALUES {arms}) AS a (name, release_id, k) ON a.k = mod(r.u, 2)""")
        conn.exec_driver_sql(f"""
            INSERT INTO feedback_events (id, ts, name, value, request_id, feature, unit_hash)
            SELECT 'f' || substr(id, 2), ts + 5, 'thumbs_up',
                   (random() < 0.6 + CASE WHEN arm = '{ARMS[1].name}' THEN 0.05 ELSE 0 END)::int,
                   id, feature, unit_hash
            FROM request_events WHERE random() < 0.3""")
        conn.exec_driver_sql("ANALYZE")


class Draws(NamedTuple):
    """One batch's random draws: requests `start` to `start + n`, and the rated ones'
    feedback values."""

    start: int
    n: int
    unit: Any
    arm: Any
    failed: Any
    latency: Any
    ts: Any
    rated: Any  # the indexes (in the batch) of the requests that get a feedback row
    value: Any  # their feedback values


def draws(rows: int, seed: int = 1) -> Iterator[Draws]:
    """The random numbers behind `batches` and `columns`, drawn once here so both make the
    same data: 20,000 requests at a time, users with their own latency offset and error
    propensity, 30% of requests rated (the candidate rated up 5 points more often)."""
    rng = np.random.default_rng(seed)
    users = max(2, rows // 20)
    offset = rng.normal(0, 0.25, users)
    propensity = rng.beta(0.1, 4.9, users)
    batch = 20_000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        unit = rng.integers(users, size=n)
        arm = unit % 2
        failed = rng.random(n) < propensity[unit]
        latency = 800 * np.exp(offset[unit] + 0.5 * rng.standard_normal(n))
        ts = T0 + rng.uniform(0, 9 * DAY, n)
        rated = np.flatnonzero(rng.random(n) < 0.3)
        value = (rng.random(rated.size) < 0.6 + 0.05 * arm[rated]).astype(np.float64)
        yield Draws(start, n, unit, arm, failed, latency, ts, rated, value)


def batches(rows: int, seed: int = 1,
            ) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The rows, 20,000 requests at a time (with their feedback)."""
    for start, n, unit, arm, failed, latency, ts, rated, value in draws(rows, seed):
        docs: list[dict[str, Any]] = [{
            "id": f"r{start + i}", "ts": float(ts[i]), "feature": FEATURE,
            "release_id": ARMS[arm[i]].release_id, "arm": ARMS[arm[i]].name,
            "unit_hash": f"{int(unit[i]):064x}", "source": "gateway",
            "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
            "attempts": 1, "fallback_used": False, "status": "error" if failed[i] else "ok",
            "http_status": 502 if failed[i] else 200, "error_code": None,
            "latency_ms": float(latency[i]), "ttft_ms": None, "input_tokens": 50,
            "output_tokens": 120, "cached_tokens": 0, "cost_usd": 0.001, "refusal": False,
            "finish_reason": "stop", "output_chars": 400, "prompt_text": None,
            "response_text": None,
        } for i in range(n)]
        feedback = [{"id": f"f{start + i}", "ts": float(ts[i]) + 5, "name": "thumbs_up",
                     "value": float(v), "request_id": f"r{start + i}",
                     "unit_hash": f"{int(unit[i]):064x}",  # as the SQL sink fills it
                     "feature": FEATURE, "attributes": None}
                    for i, v in zip(rated, value, strict=True)]
        yield docs, feedback


@contextlib.contextmanager
def clickhouse(rows: int) -> Iterator[Any]:
    """The rows in the embedded ClickHouse engine, in a temporary directory.

    Made fast, so that 10M rows take about a minute: the same rows as `batches` (the same
    random draws in the same order, 20,000 requests at a time, so the same data as on SQL),
    generated as columns (`columns`) and inserted straight through the backend in blocks of up
    to 1M requests — not through the sink and its writer batches: `bench/ingestion.py`
    measures those. The table is then merged (`OPTIMIZE … FINAL`), as a long-lived one is."""
    import pyarrow as pa

    from rampway.events.clickhouse import parse_events_url
    from rampway.events.clickhouse.sink import ColumnBuilder
    from rampway.events.clickhouse.store import ClickHouseEvents

    builders = [ColumnBuilder(request_event_fields), ColumnBuilder(feedback_events)]
    with tempfile.TemporaryDirectory(prefix="rampway-bench-") as tmp, \
            ClickHouseEvents.open(parse_events_url(f"chdb://{tmp}")) as events:
        pending: list[list[dict[str, Any]]] = [[], []]
        for start, parts in columns(rows):
            for kept, part in zip(pending, parts, strict=True):
                kept.append(part)
            if (start + 20_000) % 1_000_000 == 0 or start + 20_000 >= rows:
                for builder, kept in zip(builders, pending, strict=True):
                    names = list(builder.types)
                    events.backend.insert(builder.table, builder.types, [
                        pa.concat_arrays([pa.array(p[n]) for p in kept]) if kept[0].get(n)
                        is not None else pa.nulls(sum(len(p["id"]) for p in kept))
                        for n in names])
                    kept.clear()
        events.backend.command("OPTIMIZE TABLE request_events FINAL")
        events.backend.command("OPTIMIZE TABLE feedback_events FINAL")
        yield events


def columns(rows: int, seed: int = 1) -> Iterator[tuple[int, tuple[dict[str, Any], ...]]]:
    """`batches`' rows as (first row, (request columns, feedback columns)): name → numpy array
    or list (absent: NULL), from the same draws."""
    releases = np.asarray([a.release_id for a in ARMS], dtype=object)
    names = np.asarray([a.name for a in ARMS], dtype=object)
    for start, n, unit, arm, failed, latency, ts, rated, value in draws(rows, seed):
        ids = [f"r{i}" for i in range(start, start + n)]
        fill = {"feature": FEATURE, "source": "gateway", "protocol": "openai", "stream": False,
                "provider": "sim", "model": "sim-large", "attempts": 1, "fallback_used": False,
                "input_tokens": 50, "output_tokens": 120, "cached_tokens": 0, "cost_usd": 0.001,
                "refusal": False, "finish_reason": "stop", "output_chars": 400, "hedged": False}
        requests: dict[str, Any] = {k: [v] * n for k, v in fill.items()}
        requests |= {
            "id": ids, "ts": ts, "release_id": releases[arm].tolist(),
            "arm": names[arm].tolist(), "unit_hash": [f"{int(u):064x}" for u in unit],
            "status": np.where(failed, "error", "ok").tolist(),
            "http_status": np.where(failed, 502, 200), "latency_ms": latency,
        }
        feedback = {"id": [f"f{start + i}" for i in rated], "ts": ts[rated] + 5,
                    "name": ["thumbs_up"] * rated.size, "value": value,
                    "request_id": [ids[i] for i in rated], "feature": [FEATURE] * rated.size}
        yield start, (requests, feedback)


@contextlib.contextmanager
def source(kind: str, rows: int, keep: str | None = None) -> Iterator[Any]:
    """Where the analysis reads `rows` requests: a filled store, or ClickHouse (`chdb`).
    `keep`: a PostgreSQL database to use (filled unless it already holds requests) and keep."""
    if kind == "chdb":
        with clickhouse(rows) as events:
            yield events
        return
    if kind == "postgres" and keep:
        with Store.open(f"postgresql+psycopg://postgres@127.0.0.1:5432/{keep}") as store:
            with store.reading() as conn:
                filled = conn.scalar(sa.select(request_events.c.id).limit(1)) is not None
            if not filled:
                fill(store, rows)
            yield store
        return
    with database(kind) as url, Store.open(url) as store:
        fill(store, rows)
        if kind == "postgres":
            with store.transaction() as conn:
                conn.exec_driver_sql("ANALYZE")
        yield store


def _reset_peak_rss() -> int:
    """Linux: reset the process' peak RSS (so that a fill's peak before the analyses does not
    hide theirs) and return the RSS now, in KiB; 0 where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS")
    except OSError:
        return 0


def _peak_rss_kb() -> int:
    try:
        return _status_kb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(field)


def stand_in_units(conn: sa.Connection, rec: ExperimentRecord, units: int, seed: int) -> None:
    """A merged segment for `rec` and `units` unit rows made directly by the server (1-39
    requests a unit, ~2% multiply exposed, no request behind them): the stand-ins' roll-up."""
    conn.exec_driver_sql(f"SELECT setseed({seed / 100})")
    rollup.open_segment(conn, rec.id, rec.feature, rec.started_at, T0 + 10 * DAY,
                        rec.unit, rec.arms)
    conn.execute(experiment_rollup_segments.update().values(merged=True))
    conn.exec_driver_sql(f"""
        INSERT INTO experiment_rollup_units
        SELECT {rec.id}, lpad(to_hex(u), 64, '0'), mod(u, 2),
               CASE WHEN random() < 0.02 THEN 1 ELSE mod(u, 2) END,
               {T0} + f, {T0} + f + random() * ({9 * DAY} - f), n,
               floor(n * random() * 0.1), 0, n - floor(n * random() * 0.1),
               n * 800 * exp(0.25 * random()), n * 0.001, n * 120
        FROM (SELECT u, random() * {9 * DAY} AS f, 1 + floor(random() * 39) AS n
              FROM generate_series(0, {units - 1}) AS u) AS s""")


def rollup_units(units: int, seed: int = 1) -> dict[str, Any]:
    """PostgreSQL: the analysis of `rolled_record()` from a roll-up of `units` units made
    directly (`INSERT … SELECT` over `generate_series`, ~20 requests a unit as the fill's, 2%
    of units in both arms), with no request behind it: what reading the roll-up costs at the
    units of `20 x units` requests (500k units: 10M requests) without filling those requests.
    Best of 2, the client's peak RSS growth, the load."""
    rec = rolled_record()
    with database("postgres") as url, Store.open(url) as store:
        with store.transaction() as conn:
            stand_in_units(conn, rec, units, seed)
            latency_histograms(conn, rec.id)
            conn.exec_driver_sql("ANALYZE experiment_rollup_units")
        before = _reset_peak_rss() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = []
        for _ in range(2):
            t = time.perf_counter()
            report = analyze(store, rec, now=T0 + 10 * DAY)
            times.append(time.perf_counter() - t)
        grown = _peak_rss_kb() - before
    if report.source != "rollup":
        raise SystemExit(f"not read from the roll-up: {report.source_why}")
    return {"db": "postgres", "units": units, "path": "rollup-only",
            "seconds": round(min(times), 2), "runs": [round(t, 2) for t in times],
            "load": Path("/proc/loadavg").read_text().split()[:3],
            "peak_rss_growth_mb": round(grown / 1024, 1)}


def latency_histograms(conn: sa.Connection, experiment_id: int) -> None:
    """The stand-in roll-up's latency histograms: each unit's successful requests drawn
    (log-normal around 800 ms, a per-unit offset as the fill's), a multiply exposed unit's
    served by either of its arms, counted in the fine and coarse buckets as the sinks do."""
    from rampway._latency_buckets import BUCKETS, LOW_MS, RATIO

    fine = (f"LEAST(floor(ln(x / {LOW_MS}) / {math.log(RATIO)!r}) + 1, {BUCKETS - 1})"
            "::integer")
    conn.exec_driver_sql(f"""
        CREATE TEMPORARY TABLE stand_in_latency ON COMMIT DROP AS
        SELECT unit, CASE WHEN random() < 0.5 THEN arm_lo ELSE arm_hi END AS arm, {fine} AS k
        FROM (SELECT u.unit, u.arm_lo, u.arm_hi,
                     800 * exp(o.offset_ + 0.5 * sqrt(-2 * ln(1 - random()))
                               * cos(2 * pi() * random())) AS x
              FROM experiment_rollup_units u
              CROSS JOIN LATERAL (SELECT 0.25 * sqrt(-2 * ln(1 - random()))
                                         * cos(2 * pi() * random()) + 0 * u.ok_requests
                                  AS offset_) o
              CROSS JOIN LATERAL generate_series(1, u.ok_requests::integer) AS g
              WHERE u.experiment_id = {experiment_id}) AS r""")
    conn.exec_driver_sql(f"""
        INSERT INTO experiment_rollup_unit_latency
        SELECT {experiment_id}, unit, arm, k / {rollup.COARSE}, count(*)
        FROM stand_in_latency GROUP BY unit, arm, k / {rollup.COARSE}""")
    conn.exec_driver_sql(f"""
        INSERT INTO experiment_rollup_latency
        SELECT {experiment_id}, arm, 0, k, count(*) FROM stand_in_latency GROUP BY arm, k""")
    conn.exec_driver_sql("ANALYZE experiment_rollup_unit_latency")


def sink_cost(kind: str, rows: int = 50_000, batch: int = 500) -> list[dict[str, Any]]:
    """Requests/s of the sink writing `rows` of the fill's requests in batches of `batch`,
    without an experiment on the feature and with one (segment open and merged)."""
    from rampway.events.model import RequestEvent
    from rampway.events.sink import SqlEventSink

    requests = [RequestEvent(**doc) for docs, _ in batches(rows) for doc in docs]
    out = []
    for experiment in (False, True):
        with database(kind) as url, Store.open(url) as store:
            if experiment:
                rec = rolled_record()
                with store.transaction() as conn:
                    rollup.open_segment(conn, rec.id, rec.feature, rec.started_at,
                                        rec.started_at, rec.unit, rec.arms)
                rollup.merge(store, rec.id)
            sink = SqlEventSink(store)
            t = time.perf_counter()
            for lo in range(0, rows, batch):
                sink.write(requests[lo:lo + batch], [])
            seconds = time.perf_counter() - t
        out.append({"db": kind, "rows": rows, "batch": batch, "experiment": experiment,
                    "requests_per_s": round(rows / seconds),
                    "load": Path("/proc/loadavg").read_text().split()[:3]})
    return out
def feedback_record() -> ExperimentRecord:
    """`record()` without its quantile (latency_p95): every metric the roll-up serves, the
    feedback ones included (`rampway.experiments.rollup_feedback`)."""
    return replace(record(), secondary=("conversion:thumbs_up", "cost_per_unit"),
                   guardrails=(Guardrail("error_rate", "increase"),
                               Guardrail("cost_per_unit", "increase")))


def rollup_feedback_units(units: int, seed: int = 1) -> dict[str, Any]:
    """PostgreSQL: `rollup_units`' stand-in (a roll-up of `units` units made directly, no
    request behind it) with the feedback of `20 x units` requests beside it: 30% of them
    rated, 6 rows a unit on average, each with its unit as the SQL sink fills it
    (`rampway.events.sink.FeedbackUnits`) and the id of a request that is not there — so the
    join of the remaining unfilled rows to the request log costs nothing here, as when the
    sink filled them all. `feedback_record()` analysed from the roll-up, best of 2."""
    rec = feedback_record()
    with database("postgres") as url, Store.open(url) as store:
        with store.transaction() as conn:
            stand_in_units(conn, rec, units, seed)
            conn.exec_driver_sql(f"""
                INSERT INTO feedback_events (id, ts, name, value, request_id, feature,
                                             unit_hash)
                SELECT 'f' || i, {T0} + random() * {9 * DAY} + 5, 'thumbs_up',
                       (random() < 0.6 + 0.05 * mod(u, 2))::int, 'r' || i, '{FEATURE}',
                       lpad(to_hex(u), 64, '0')
                FROM (SELECT i, floor(random() * {units})::int AS u
                      FROM generate_series(0, {6 * units - 1}) AS i) AS s""")
            conn.exec_driver_sql("ANALYZE")
        before = _reset_peak_rss() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = []
        for _ in range(2):
            t = time.perf_counter()
            report = analyze(store, rec, now=T0 + 10 * DAY)
            times.append(time.perf_counter() - t)
        grown = _peak_rss_kb() - before
    if report.source != "rollup":
        raise SystemExit(f"not read from the roll-up: {report.source_why}")
    return {"db": "postgres", "units": units, "path": "rollup-feedback-only",
            "seconds": round(min(times), 2), "runs": [round(t, 2) for t in times],
            "load": Path("/proc/loadavg").read_text().split()[:3],
            "peak_rss_growth_mb": round(grown / 1024, 1)}


def measure(store: Any, path: str) -> dict[str, Any]:
    """The analysis of `record()` (every metric: feedback, quantiles and the rest) from `path`
    ("events": the event log; "rollup": its roll-up, backfilled first, and from the event
    log to compare):
    best of 2, the client's peak RSS growth, the load."""
    extra: dict[str, Any] = {}
    if path == "rollup":
        extra["backfill_s"] = round(backfill(store), 2)
        t = time.perf_counter()
        exact = analyze(store, record(), now=T0 + 10 * DAY, rollup=False)
        extra["events_s"] = round(time.perf_counter() - t, 2)
    before = _reset_peak_rss() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(2):
        t = time.perf_counter()
        report = analyze(store, record(), now=T0 + 10 * DAY)
        times.append(time.perf_counter() - t)
    grown = _peak_rss_kb() - before
    if path == "rollup":
        if report.source != "rollup" or not _same(report, exact):
            raise SystemExit(f"the roll-up's report differs ({report.source}: "
                             f"{report.source_why})")
        extra["p95_rel_diff"] = _p95_differences(report, exact)
        from rampway.experiments.tables import (
            experiment_rollup_latency,
            experiment_rollup_unit_latency,
        )

        with store.transaction() as conn:  # the next run backfills again
            for table in (experiment_rollup_segments, experiment_rollup_units,
                          experiment_rollup_latency, experiment_rollup_unit_latency):
                conn.execute(table.delete())
    return {"path": path, "seconds": round(min(times), 2),
            "runs": [round(t, 2) for t in times],
            "load": Path("/proc/loadavg").read_text().split()[:3],
            "peak_rss_growth_mb": round(grown / 1024, 1), "decision": str(report.decision),
            **extra}


def _same(a: ExperimentReport, b: ExperimentReport) -> bool:
    """The two reports agree: to 1e-9 but for latency_p95 (and the decision, which reads it),
    that within its tolerance (`_p95_differences`)."""
    x, y = (to_json(replace(r, results=tuple(m for m in r.results if not _p95(m))))
            for r in (a, b))
    for doc in (x, y):
        doc.pop("source")
        doc.pop("decision", None)
    fx, fy = _flat(x), _flat(y)
    diff = _p95_differences(a, b)
    return (len(fx) == len(fy) and bool(np.allclose(fx, fy, rtol=1e-9, equal_nan=True))
            and json.dumps(_strings(x)) == json.dumps(_strings(y))
            and diff["mean"] <= 0.011 and diff["se"] <= 0.05)


def _p95(m: Any) -> bool:
    return bool(m.metric == "latency_p95")


def _p95_differences(a: ExperimentReport, b: ExperimentReport) -> dict[str, float]:
    """The largest relative differences of the two reports' latency_p95 results: the arms'
    quantiles ("mean") and the fixed-horizon interval's half-width (its standard error)."""
    mean, se = 0.0, 0.0
    for x, y in zip((m for m in a.results if _p95(m)), (m for m in b.results if _p95(m)),
                    strict=True):
        for u, v in ((x.control_mean, y.control_mean), (x.treatment_mean, y.treatment_mean)):
            mean = max(mean, abs(u / v - 1))
        wx = x.absolute.upper - x.absolute.lower
        wy = y.absolute.upper - y.absolute.lower
        se = max(se, abs(wx / wy - 1))
    return {"mean": round(mean, 5), "se": round(se, 5)}


def _flat(doc: Any) -> list[float]:
    if isinstance(doc, dict):
        return [v for k in sorted(doc) for v in _flat(doc[k])]
    if isinstance(doc, list):
        return [v for item in doc for v in _flat(item)]
    if isinstance(doc, bool) or doc is None or isinstance(doc, str):
        return []
    return [float(doc)]


def _strings(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strings(v) for k, v in sorted(doc.items())}
    if isinstance(doc, list):
        return [_strings(v) for v in doc]
    return doc if isinstance(doc, str | bool) or doc is None else 0


def only_stand_ins(args: argparse.Namespace, results: list[dict[str, Any]]) -> bool:
    """Run `--sink`, `--rollup-units` and `--rollup-feedback-units` (adding to `results`);
    whether one of them was asked for (then no fill runs)."""
    if args.sink:
        for kind in args.db:
            for entry in sink_cost(kind):
                results.append(entry)
                if not args.json:
                    print(f"{kind:<9} sink, experiment {entry['experiment']!s:<5}: "
                          f"{entry['requests_per_s']:,} requests/s (load "
                          f"{' '.join(entry['load'])})", flush=True)
    for units in args.rollup_feedback_units:
        entry = rollup_feedback_units(units)
        results.append(entry)
        if not args.json:
            print(f"postgres {units:>10,} units rollup-feedback-only: analyze "
                  f"{entry['seconds']:.2f} s, peak RSS growth {entry['peak_rss_growth_mb']} MB "
                  f"(runs {entry['runs']}, load {' '.join(entry['load'])})", flush=True)
    for units in args.rollup_units:
        entry = rollup_units(units)
        results.append(entry)
        if not args.json:
            print(f"postgres {units:>10,} units rollup-only: analyze {entry['seconds']:.2f} s, "
                  f"peak RSS growth {entry['peak_rss_growth_mb']} MB (runs {entry['runs']}, "
                  f"load {' '.join(entry['load'])})", flush=True)
    return bool(args.sink or args.rollup_units or args.rollup_feedback_units)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", choices=["sqlite", "postgres", "chdb"], nargs="+",
                        default=["sqlite", "postgres"])
    parser.add_argument("--path", choices=["events", "rollup"], nargs="+",
                        default=["events"], help="where the analysis reads (see above)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sink", action="store_true",
                        help="time only the sink with and without an experiment (see above)")
    parser.add_argument("--keep", metavar="DATABASE", nargs="+", default=(),
                        help="PostgreSQL: existing databases to use, one per --rows (filled "
                             "when empty, kept): a 10M fill takes ~20 min")
    parser.add_argument("--rollup-units", type=int, nargs="+", default=(), metavar="UNITS",
                        help="PostgreSQL: time only (no other run) the analysis of a roll-up "
                             "of that many units, made directly (see rollup_units)")
    parser.add_argument("--rollup-feedback-units", type=int, nargs="+", default=(),
                        metavar="UNITS", help="PostgreSQL: time only the feedback metrics' "
                        "analysis of such a roll-up, with feedback (rollup_feedback_units)")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if only_stand_ins(args, results):
        args.db = []
    for kind in args.db:
        for rows in args.rows:
            keep = dict(zip(args.rows, args.keep, strict=False)).get(rows)
            with source(kind, rows, keep) as store:
                for path in args.path:
                    entry = measure(store, path)
                    entry = {"db": kind, "rows": rows, **entry}
                    results.append(entry)
                    if not args.json:
                        print(f"{kind:<9} {rows:>10,} rows {path:<7}: analyze "
                              f"{entry['seconds']:.2f} s, peak RSS growth "
                              f"{entry['peak_rss_growth_mb']} MB (runs {entry['runs']}"
                              + (f", backfill {entry['backfill_s']} s, same metrics from the "
                                 f"event log {entry['events_s']} s"
                                 + (f", p95 differences {entry['p95_rel_diff']}"
                                    if path == "rollup" else "")
                                 if path != "events" else "")
                              + f", load {' '.join(entry['load'])})", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
