"""Live health of every feature from the event log: requests/min, error rate, p95, cost/hour.

One GROUP BY over the window for all features (per feature and minute: requests, errors,
fallbacks, cost), plus one p95 per feature read by the database (`linear_quantile`: it sorts
the top 5% of the window through the `(feature, ts)` index, never ships the rows). The minute
buckets are the sparkline; the totals are the figures next to it.

    health = read_health(store, ["support-bot"], now=time.time())
    h = health["support-bot"]
    h.requests_per_min, h.error_rate, h.p95_ms, h.cost_per_hour, h.buckets[-1].requests
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from rampway.events.tables import request_events
from rampway.store import Store
from rampway.store._quantile import linear_quantile

WINDOW_S = 3600.0
BUCKET_S = 60.0


@dataclass(frozen=True, slots=True)
class Bucket:
    """One minute of one feature: when it starts (epoch seconds) and what was served."""

    start: float
    requests: int
    errors: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Health:
    """A feature over the last `window_s` seconds; rates are NaN when nothing was served."""

    feature: str
    window_s: float
    requests: int
    errors: int
    fallbacks: int
    cost_usd: float
    p95_ms: float
    buckets: tuple[Bucket, ...]

    @property
    def requests_per_min(self) -> float:
        return self.requests / (self.window_s / 60.0)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else math.nan

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.requests if self.requests else math.nan

    @property
    def cost_per_hour(self) -> float:
        return self.cost_usd / (self.window_s / 3600.0)

    def series(self) -> dict[str, list[float]]:
        """The sparkline's columns (uPlot's shape: x first), one point per minute."""
        return {
            "t": [b.start for b in self.buckets],
            "requests": [float(b.requests) for b in self.buckets],
            "errors": [float(b.errors) for b in self.buckets],
        }


def read_health(
    store: Store, features: Sequence[str], *, now: float, window_s: float = WINDOW_S,
    bucket_s: float = BUCKET_S,
) -> dict[str, Health]:
    """Health of each of `features` over `[now - window_s, now)`, with every minute present
    (zeros where nothing was served), so a sparkline shows gaps as drops, not as joins."""
    start = now - window_s
    e = request_events.c
    offset = (e.ts - start) / bucket_s
    # ts >= start, so truncation is floor; PostgreSQL's cast rounds, and SQLite may lack floor()
    floored = sa.func.floor(offset) if store.engine.dialect.name == "postgresql" else offset
    slot = sa.cast(floored, sa.Integer).label("slot")
    query = (
        sa.select(
            e.feature, slot, sa.func.count().label("n"),
            sa.func.sum(sa.case((e.status != "ok", 1), else_=0)).label("errors"),
            sa.func.sum(sa.case((e.fallback_used, 1), else_=0)).label("fallbacks"),
            sa.func.sum(e.cost_usd).label("cost"),
        )
        .where(e.feature.in_(list(features)), e.ts >= start, e.ts < now)
        .group_by(e.feature, slot)
    )
    slots = max(1, math.ceil(window_s / bucket_s))
    counts: dict[str, dict[int, Any]] = {f: {} for f in features}
    with store.reading() as conn:
        for row in conn.execute(query):
            counts[row.feature][int(row.slot)] = row
        p95 = {f: _p95(conn, f, start, now, sum(int(r.n) for r in counts[f].values()))
               for f in features}
    return {f: _health(f, counts[f], p95[f], start, window_s, bucket_s, slots)
            for f in features}


def _p95(conn: sa.Connection, feature: str, start: float, now: float, n: int) -> float:
    e = request_events.c
    values = sa.select(e.latency_ms).where(e.feature == feature, e.ts >= start, e.ts < now)
    return linear_quantile(conn, values, n, 0.95)


def _health(feature: str, rows: dict[int, Any], p95: float, start: float, window_s: float,
            bucket_s: float, slots: int) -> Health:
    buckets = []
    for i in range(slots):
        row = rows.get(i)
        buckets.append(Bucket(start + i * bucket_s, 0, 0, 0.0) if row is None else Bucket(
            start + i * bucket_s, int(row.n), int(row.errors or 0), float(row.cost or 0.0)))
    return Health(
        feature=feature, window_s=window_s, requests=sum(b.requests for b in buckets),
        errors=sum(b.errors for b in buckets),
        fallbacks=sum(int(r.fallbacks or 0) for r in rows.values()),
        cost_usd=sum(b.cost_usd for b in buckets), p95_ms=p95, buckets=tuple(buckets),
    )


__all__ = ["BUCKET_S", "WINDOW_S", "Bucket", "Health", "read_health"]
