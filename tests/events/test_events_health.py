"""The health roll-up (SQLite and PostgreSQL): kept by the sink in each batch's transaction,
rebuilt from the event log, pruned with it; what it reads equals the event log's own answer
(counts exactly, cost to float rounding, quantiles within one 5% latency bucket)."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.errors import StoreError
from rampway.events import RequestEvent
from rampway.events.health import (
    RATIO,
    decode,
    latency_bucket,
    prune_rollup,
    quantile,
    read_counts,
    read_latency,
    rebuild,
)
from rampway.events.retention import prune
from rampway.events.sink import SqlEventSink
from rampway.events.tables import VALUE_FIELDS, health_minutes, request_event_fields, request_events
from rampway.events.values import with_shape_ids
from rampway.store import Store

NOW = 1_790_000_040.0  # on a minute boundary
FEATURES = ("support-bot", "summarizer")


def events(n: int, seed: int, *, prefix: str = "r", span: float = 7200.0) -> list[RequestEvent]:
    """`n` events of two features and three releases (one None) over `span` seconds before NOW,
    lognormal latencies, 1 in 9 an error, 1 in 13 a fallback, costs of many magnitudes."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append(RequestEvent(
            id=f"{prefix}{i}", ts=NOW - span + float(rng.uniform(0, span)),
            feature=FEATURES[i % 2], release_id=(None, "v1", "v2")[i % 3],
            status="error" if i % 9 == 0 else "ok", fallback_used=i % 13 == 0,
            cost_usd=float(rng.uniform(0, 0.01)) * 10 ** -(i % 3),
            latency_ms=float(rng.lognormal(6, 0.8)) if i % 50 else 0.3,
        ))
    return out


def expected_counts(evs: list[RequestEvent]) -> dict[tuple[str, str, int], tuple[int, int, int]]:
    out: dict[tuple[str, str, int], tuple[int, int, int]] = {}
    for e in evs:
        key = (e.feature, e.release_id or "", int(e.ts // 60))
        n, err, fb = out.get(key, (0, 0, 0))
        out[key] = (n + 1, err + (e.status != "ok"), fb + e.fallback_used)
    return out


def rollup_counts(store: Store) -> dict[tuple[str, str, int], tuple[int, int, int]]:
    with store.reading() as conn:
        return {(r.feature, r.release_id, r.minute): (r.requests, r.errors, r.fallbacks)
                for r in conn.execute(sa.select(health_minutes))}


def rollup_cost(store: Store) -> float:
    with store.reading() as conn:
        return float(conn.scalar(sa.select(sa.func.sum(health_minutes.c.cost_usd))) or 0.0)


def histogram_total(store: Store) -> int:
    with store.reading() as conn:
        return sum(sum(decode(blob).values())
                   for blob in conn.scalars(sa.select(health_minutes.c.latency)))


# -- buckets and quantiles (pure) -----------------------------------------------------------


def test_buckets_are_five_percent_wide_and_cover_sub_millisecond_latencies() -> None:
    assert latency_bucket(0.0) == latency_bucket(0.99) == 0
    assert latency_bucket(float("nan")) == 0
    assert latency_bucket(1.0) == 1 and latency_bucket(RATIO * 1.0001) == 2
    assert latency_bucket(1e12) == latency_bucket(1e9)  # clamped, not an error


@pytest.mark.parametrize("p", [0.5, 0.95, 0.99])
def test_a_quantile_off_the_histogram_is_within_one_bucket(p: float) -> None:
    rng = np.random.default_rng(11)
    for size in (1, 2, 7, 100, 5000):
        values = rng.lognormal(5, 1.2, size)
        hist: dict[int, int] = {}
        for v in values:
            hist[latency_bucket(float(v))] = hist.get(latency_bucket(float(v)), 0) + 1
        exact = float(np.quantile(values, p))
        assert exact / RATIO <= quantile(hist, p) <= exact * RATIO, (size, p)
    assert math.isnan(quantile({}, 0.95))


# -- the sink ---------------------------------------------------------------------------------


def test_the_sink_rolls_each_batch_up_in_its_transaction(store: Store) -> None:
    evs = events(900, 1)
    sink = SqlEventSink(store)
    for start in range(0, len(evs), 100):  # batches that add to the same minutes' rows
        sink.write(evs[start:start + 100], [])
    assert rollup_counts(store) == expected_counts(evs)
    assert math.isclose(rollup_cost(store), sum(e.cost_usd for e in evs), rel_tol=1e-9)
    assert histogram_total(store) == len(evs)

    # a batch the database refuses (a duplicate id) adds nothing to the roll-up either
    with pytest.raises(StoreError):
        sink.write([*events(5, 2, prefix="new"), evs[0]], [])
    assert rollup_counts(store) == expected_counts(evs)
    assert histogram_total(store) == len(evs)


def test_reading_the_rollup_equals_reading_the_event_log(store: Store) -> None:
    evs = events(1200, 3)
    SqlEventSink(store).write(evs, [])
    first, end = int(NOW // 60) - 60, int(NOW // 60)
    with store.reading() as conn:
        counts = read_counts(conn, list(FEATURES), first, end)
        per_30 = read_counts(conn, list(FEATURES), first - 60, end, 30)
        latency = read_latency(conn, list(FEATURES), first, end)
    for feature in FEATURES:
        inside = [e for e in evs if e.feature == feature and first * 60 <= e.ts < end * 60]
        assert sum(v[0] for v in counts[feature].values()) == len(inside)
        assert sum(v[1] for v in counts[feature].values()) == sum(
            e.status != "ok" for e in inside)
        assert math.isclose(sum(v[3] for v in counts[feature].values()),
                            sum(e.cost_usd for e in inside), rel_tol=1e-9)
        slots = np.bincount([int((e.ts - (first - 60) * 60) // 1800) for e in evs
                             if e.feature == feature and e.ts >= (first - 60) * 60],
                            minlength=4)
        assert [per_30[feature].get(i, (0,))[0] for i in range(4)] == slots.tolist()
        exact = float(np.quantile([e.latency_ms for e in inside], 0.95))
        assert exact / RATIO <= quantile(latency[feature], 0.95) <= exact * RATIO


def test_concurrent_writers_lose_no_latency_counts(db_url: str, store: Store) -> None:
    """Two sinks on their own connections adding to the same minutes' histograms at once: each
    merge happens under the row lock its counters' upsert took."""
    batches = [events(60, 100 + k, prefix=f"w{k}_", span=120.0) for k in range(16)]
    errors: list[BaseException] = []

    def writer(mine: list[list[RequestEvent]]) -> None:
        try:
            with Store.open(db_url) as own:
                sink = SqlEventSink(own)
                for batch in mine:
                    sink.write(batch, [])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batches[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    everything = [e for b in batches for e in b]
    assert rollup_counts(store) == expected_counts(everything)
    assert histogram_total(store) == len(everything)


# -- rebuild and retention ------------------------------------------------------------------


def bulk_load(store: Store, evs: list[RequestEvent]) -> None:
    """Events written around the sink (a bulk load, or rows from before the roll-up); without
    attribute or flag values (the sink stores those, `rampway.events.values`)."""
    names = [c.name for c in request_event_fields.columns if c.name not in VALUE_FIELDS]
    rows = [{name: getattr(e, name) for name in names} for e in evs]
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, rows))


def test_rebuild_rolls_up_events_written_around_the_sink(store: Store) -> None:
    evs = events(800, 4)
    bulk_load(store, evs)
    assert rollup_counts(store) == {}
    result = rebuild(store, NOW - 86400)
    assert result.events == 800 and result.minutes == len(expected_counts(evs))
    assert rollup_counts(store) == expected_counts(evs)
    assert histogram_total(store) == 800

    # the sink's rows and a second rebuild from an unaligned time: nothing counted twice, and
    # minutes before the rebuilt range keep their rows
    more = events(300, 5, prefix="s")
    SqlEventSink(store).write(more, [])
    rebuild(store, NOW - 3600 - 7.5)
    assert rollup_counts(store) == expected_counts(evs + more)
    assert histogram_total(store) == 1100


def test_retention_prunes_whole_minutes_before_its_cutoff(store: Store) -> None:
    evs = events(600, 6)
    SqlEventSink(store).write(evs, [])
    cutoff = NOW - 3600 - 30  # mid-minute: that minute keeps its row
    result = prune(store, cutoff)
    assert result.requests == sum(e.ts < cutoff for e in evs)
    kept = expected_counts([e for e in evs if e.ts // 60 >= cutoff // 60])
    assert rollup_counts(store) == kept
    assert prune_rollup(store, cutoff) == 0
    minute = int(cutoff // 60)
    assert any(key[2] == minute for key in kept)  # the cut minute is still there


# -- `rampway events rebuild-health` ----------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    return root


def test_cli_rebuild_health(project: Path, db_url: str) -> None:
    now = time.time()
    ages_min = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 20, 25, 30]  # --since 10m: the first six
    evs = [RequestEvent(id=f"c{i}", ts=now - 60 * age, feature="support-bot", latency_ms=100.0)
           for i, age in enumerate(ages_min)]
    with Store.open(db_url) as store:
        bulk_load(store, evs)
    out = run("events", "rebuild-health", "--since", "10m", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["events"] == 6
    with Store.open(db_url) as store:
        assert sum(v[0] for v in rollup_counts(store).values()) == 6
    for since, fragment in (("soon", "--since: invalid duration"), ("0", "--since")):
        bad = run("events", "rebuild-health", "--since", since)
        assert bad.exit_code == 2, bad.output
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], bad.stderr
