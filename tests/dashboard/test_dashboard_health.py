"""Live health from the event log (SQLite and PostgreSQL): per-minute buckets for the
sparkline and the window's figures, checked against the same numbers computed in Python."""

from __future__ import annotations

import math

import numpy as np
from rollout_helpers import publish

from rampway.dashboard.health import read_health
from rampway.events.tables import request_events
from rampway.store import Store

NOW = 1_767_225_600.0


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


def test_health_buckets_and_figures(store: Store) -> None:
    publish(store, "support-bot", "v1")
    rng = np.random.default_rng(3)
    rows = []
    for i in range(600):
        ts = NOW - 3600 + float(rng.uniform(0, 3600))
        rows.append(_row(i, "support-bot", ts, float(rng.lognormal(6, 0.5)), i % 10 != 0,
                         i % 25 == 0))
    rows.append(_row(900, "support-bot", NOW - 3601, 1.0, False, False))  # before the window
    rows.append(_row(901, "support-bot", NOW, 1.0, False, False))  # `now` itself is excluded
    rows.append(_row(902, "other", NOW - 10, 1.0, True, False))  # another feature
    with store.transaction() as conn:
        conn.execute(request_events.insert(), rows)

    h = read_health(store, ["support-bot", "idle"], now=NOW)
    bot, idle = h["support-bot"], h["idle"]
    inside = rows[:600]
    assert bot.requests == 600 and bot.errors == 60 and bot.fallbacks == 24
    assert math.isclose(bot.requests_per_min, 10.0) and math.isclose(bot.error_rate, 0.1)
    assert math.isclose(bot.cost_per_hour, 1.2) and math.isclose(bot.fallback_rate, 0.04)
    assert math.isclose(bot.p95_ms, float(np.quantile([r["latency_ms"] for r in inside], 0.95)))
    assert len(bot.buckets) == 60 and bot.buckets[0].start == NOW - 3600
    expected = np.bincount([int((r["ts"] - (NOW - 3600)) // 60) for r in inside], minlength=60)
    assert [b.requests for b in bot.buckets] == expected.tolist()
    assert bot.series()["t"][-1] == NOW - 60
    assert idle.requests == 0 and math.isnan(idle.error_rate) and math.isnan(idle.p95_ms)
    assert [b.requests for b in idle.buckets] == [0] * 60
