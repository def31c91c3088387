"""Live health (SQLite and PostgreSQL) from the per-minute roll-up: per-minute and per-30-minute
buckets for the sparklines and the window's figures, checked against the same numbers computed
in Python and against the event log's own answer (`read_health_raw`): counts equal, cost to
float rounding, p95 within one latency bucket (5%)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rollout_helpers import publish

from rampway.dashboard.health import read_health, read_health_raw, window
from rampway.events.health import RATIO, rebuild
from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.store import Store

NOW = 1_767_225_600.0  # on a minute boundary


def _row(i: int, feature: str, ts: float, latency: float, ok: bool, fallback: bool) -> dict[
        str, object]:
    return {
        "id": f"r{i}", "ts": ts, "feature": feature, "release_id": f"{feature}@00000000",
        "arm": None, "unit_hash": None, "source": "gateway", "protocol": "openai",
        "stream": False, "attempts": 1, "fallback_used": fallback,
        "status": "ok" if ok else "error", "http_status": 200 if ok else 502,
        "latency_ms": latency, "input_tokens": 1, "output_tokens": 1, "cached_tokens": 0,
        "cost_usd": 0.002, "refusal": False, "output_chars": 1,
    }


def _seed(store: Store) -> list[dict[str, object]]:
    publish(store, "support-bot", "v1")
    rng = np.random.default_rng(3)
    rows = []
    for i in range(600):
        ts = NOW - 3600 + float(rng.uniform(0, 3600))
        rows.append(_row(i, "support-bot", ts, float(rng.lognormal(6, 0.5)), i % 10 != 0,
                         i % 25 == 0))
    for i in range(200):  # earlier in the day: only the day's sparkline shows them
        rows.append(_row(1000 + i, "support-bot", NOW - 86400 + 600 + 400 * i, 50.0, True,
                         False))
    rows.append(_row(900, "support-bot", NOW - 3601, 1.0, False, False))  # before the window
    rows.append(_row(901, "support-bot", NOW, 1.0, False, False))  # `now` itself is excluded
    rows.append(_row(902, "other", NOW - 10, 1.0, True, False))  # another feature
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, rows))
    rebuild(store, NOW - 2 * 86400)  # rows written around the sink: rolled up here
    return rows


def assert_same_counts(a: Any, b: Any) -> None:
    """Two features' health read two ways agree on everything but the p95 (whose tolerance
    depends on how it was read): counts, the minute and day buckets, the cost."""
    assert (a.requests, a.errors, a.fallbacks, a.window_s) == (
        b.requests, b.errors, b.fallbacks, b.window_s)
    assert [(x.start, x.requests, x.errors) for x in a.buckets] == [
        (x.start, x.requests, x.errors) for x in b.buckets]
    assert [(x.start, x.requests, x.errors) for x in a.day] == [
        (x.start, x.requests, x.errors) for x in b.day]
    assert math.isclose(a.cost_usd, b.cost_usd, rel_tol=1e-9, abs_tol=1e-12)


def test_health_buckets_and_figures(store: Store) -> None:
    rows = _seed(store)
    h = read_health(store, ["support-bot", "idle"], now=NOW)
    bot, idle = h["support-bot"], h["idle"]
    inside = rows[:600]
    assert bot.requests == 600 and bot.errors == 60 and bot.fallbacks == 24
    assert math.isclose(bot.requests_per_min, 10.0) and math.isclose(bot.error_rate, 0.1)
    assert math.isclose(bot.cost_per_hour, 1.2) and math.isclose(bot.fallback_rate, 0.04)
    exact = float(np.quantile([r["latency_ms"] for r in inside], 0.95))
    assert exact / RATIO <= bot.p95_ms <= exact * RATIO
    assert len(bot.buckets) == 60 and bot.buckets[0].start == NOW - 3600
    expected = np.bincount([int((r["ts"] - (NOW - 3600)) // 60) for r in inside], minlength=60)
    assert [b.requests for b in bot.buckets] == expected.tolist()
    assert bot.series()["t"][-1] == NOW - 60
    assert len(bot.day) == 48 and bot.day[0].start == NOW - 86400
    assert sum(b.requests for b in bot.day) == 600 + 200 + 1  # with the one just before the hour
    assert bot.day[0].requests == 3  # 600, 1000 and 1400 s into the day
    assert idle.requests == 0 and math.isnan(idle.error_rate) and math.isnan(idle.p95_ms)
    assert [b.requests for b in idle.buckets] == [0] * 60


def test_the_rollup_reads_what_the_event_log_reads(store: Store) -> None:
    _seed(store)
    for now in (NOW, NOW - 1234.5, NOW - 7200):  # aligned, mid-minute, an hour earlier
        fast = read_health(store, ["support-bot", "other"], now=now)
        raw = read_health_raw(store, ["support-bot", "other"], now=now)
        for feature in ("support-bot", "other"):
            a, b = fast[feature], raw[feature]
            assert_same_counts(a, b)
            if b.requests:
                assert b.p95_ms / RATIO <= a.p95_ms <= b.p95_ms * RATIO
            else:
                assert math.isnan(a.p95_ms)


def test_the_window_ends_with_the_current_minute() -> None:
    assert window(NOW) == (int(NOW // 60) - 60, int(NOW // 60))
    assert window(NOW + 0.5) == (int(NOW // 60) - 59, int(NOW // 60) + 1)
