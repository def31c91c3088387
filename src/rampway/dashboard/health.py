"""Live health of every feature: requests/min, error rate, p95, cost/hour, fallback rate, and
sparklines of requests and errors over the last hour (per minute) and day (per 30 minutes).

`read_health` reads the per-minute roll-up the event sink keeps (`rampway.events.health`): three
GROUP BYs over at most (features x releases x 1,440) small rows, whatever the traffic. The
window is whole minutes: the 60 minutes up to the end of the current one, so the figures move
once a minute and the last sparkline point is the minute in progress. Rates divide by the time
the window has really covered (`now` minus its start).

`read_health_raw` computes the same figures from the event log itself (the same whole minutes):
the reference the roll-up is tested against, and what a store without the roll-up would show —
and what the overview shows with the events in ClickHouse (`read_health`'s `events`, computed
there). Counts agree exactly, cost to float rounding, p95 within one latency bucket (5%).

    health = read_health(store, ["support-bot"], now=time.time())
    h = health["support-bot"]
    h.requests_per_min, h.error_rate, h.p95_ms, h.cost_per_hour, h.buckets[-1].requests
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from rampway.events.health import quantile, read_counts, read_latency
from rampway.events.tables import request_events
from rampway.store import Store
from rampway.store._quantile import linear_quantile

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents

WINDOW_MINUTES = 60
DAY_MINUTES = 1440
DAY_SLOT_MINUTES = 30
MINUTE = 60.0

#: (requests, errors, fallbacks, cost) per slot
Counts = Mapping[int, tuple[int, int, int, float]]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One slot of one feature: when it starts (epoch seconds) and what was served."""

    start: float
    requests: int
    errors: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Health:
    """A feature over its window of `window_s` seconds (the last hour, up to now); rates are NaN
    when nothing was served. `buckets`: per minute of the window; `day`: per 30 minutes of the
    last day."""

    feature: str
    window_s: float
    requests: int
    errors: int
    fallbacks: int
    cost_usd: float
    p95_ms: float
    buckets: tuple[Bucket, ...]
    day: tuple[Bucket, ...]

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

    def series(self, day: bool = False) -> dict[str, list[float]]:
        """A sparkline's columns (uPlot's shape: x first): the hour's minutes, or the day's."""
        buckets = self.day if day else self.buckets
        return {
            "t": [b.start for b in buckets],
            "requests": [float(b.requests) for b in buckets],
            "errors": [float(b.errors) for b in buckets],
        }


def window(now: float) -> tuple[int, int]:
    """The hour's minutes [first, end): up to and including the one `now` is in.

    >>> window(3600.0), window(3600.5)
    ((0, 60), (1, 61))
    """
    end = math.ceil(now / MINUTE)
    return end - WINDOW_MINUTES, end


def read_health(store: Store, features: Sequence[str], *, now: float,
                events: ClickHouseEvents | None = None) -> dict[str, Health]:
    """Health of each of `features` from the roll-up, every slot present (zeros where nothing
    was served), so a sparkline shows gaps as drops, not as joins. With `events` (the event log
    in ClickHouse, where no roll-up is kept) from the requests there, as `read_health_raw`
    computes them (`rampway.events.clickhouse.health`)."""
    first, end = window(now)
    day_first = end - DAY_MINUTES
    if events is not None:
        from rampway.events.clickhouse import health

        hour = health.read_counts(events.backend, features, first, end)
        day = health.read_counts(events.backend, features, day_first, end, DAY_SLOT_MINUTES)
        p95 = health.read_p95(events.backend, features, first, end)
        return {f: _health(f, hour[f], day[f], p95[f], first, now) for f in features}
    with store.reading() as conn:
        hour = read_counts(conn, features, first, end)
        day = read_counts(conn, features, day_first, end, DAY_SLOT_MINUTES)
        latency = read_latency(conn, features, first, end)
    return {f: _health(f, hour[f], day[f], quantile(latency[f], 0.95), first, now)
            for f in features}


def read_health_raw(store: Store, features: Sequence[str], *, now: float) -> dict[str, Health]:
    """The same as `read_health`, from the event log's rows (see the module docstring)."""
    first, end = window(now)
    day_first = end - DAY_MINUTES
    with store.reading() as conn:
        stop = end * MINUTE
        hour = _raw_counts(conn, features, first * MINUTE, stop, MINUTE)
        day = _raw_counts(conn, features, day_first * MINUTE, stop, DAY_SLOT_MINUTES * MINUTE)
        p95 = {f: _raw_p95(conn, f, first * MINUTE, stop, sum(v[0] for v in hour[f].values()))
               for f in features}
    return {f: _health(f, hour[f], day[f], p95[f], first, now) for f in features}


def _raw_counts(conn: sa.Connection, features: Sequence[str], start: float, stop: float,
                bucket_s: float) -> dict[str, dict[int, tuple[int, int, int, float]]]:
    e = request_events.c
    offset = (e.ts - start) / bucket_s
    # ts >= start, so truncation is floor; PostgreSQL's cast rounds, and SQLite may lack floor()
    floored = sa.func.floor(offset) if conn.dialect.name == "postgresql" else offset
    slot = sa.cast(floored, sa.Integer)
    query = (
        sa.select(
            e.feature, slot, sa.func.count(),
            sa.func.sum(sa.case((e.status != "ok", 1), else_=0)),
            sa.func.sum(sa.case((e.fallback_used, 1), else_=0)),
            sa.func.sum(e.cost_usd),
        )
        .where(e.feature.in_(list(features)), e.ts >= start, e.ts < stop)
        .group_by(e.feature, slot)
    )
    out: dict[str, dict[int, tuple[int, int, int, float]]] = {f: {} for f in features}
    for feature, at, n, errors, fallbacks, cost in conn.execute(query):
        out[feature][int(at)] = (int(n), int(errors or 0), int(fallbacks or 0),
                                 float(cost or 0.0))
    return out


def _raw_p95(conn: sa.Connection, feature: str, start: float, stop: float, n: int) -> float:
    e = request_events.c
    values = sa.select(e.latency_ms).where(e.feature == feature, e.ts >= start, e.ts < stop)
    return linear_quantile(conn, values, n, 0.95)


def _buckets(counts: Counts, first: int, slots: int, every: int) -> tuple[Bucket, ...]:
    out = []
    for i in range(slots):
        n, errors, _, cost = counts.get(i, (0, 0, 0, 0.0))
        out.append(Bucket((first + i * every) * MINUTE, n, errors, cost))
    return tuple(out)


def _health(feature: str, hour: Counts, day: Counts, p95: float, first: int,
            now: float) -> Health:
    buckets = _buckets(hour, first, WINDOW_MINUTES, 1)
    return Health(
        feature=feature, window_s=now - first * MINUTE,
        requests=sum(b.requests for b in buckets), errors=sum(b.errors for b in buckets),
        fallbacks=sum(v[2] for v in hour.values()), cost_usd=sum(b.cost_usd for b in buckets),
        p95_ms=p95, buckets=buckets,
        day=_buckets(day, first + WINDOW_MINUTES - DAY_MINUTES,
                     DAY_MINUTES // DAY_SLOT_MINUTES, DAY_SLOT_MINUTES),
    )


__all__ = ["Bucket", "Health", "read_health", "read_health_raw", "window"]
