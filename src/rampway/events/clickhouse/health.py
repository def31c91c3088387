"""The overview's health figures read from the events in ClickHouse.

With `events:` in rampway.yaml no SQL sink keeps `health_minutes` (`rampway.events.health`):
the requests are in ClickHouse, where grouping a feature's last day by minute is what the
table's `ORDER BY (feature, ts)` serves — it reads the features' parts of that day and nothing
else. The figures are `rampway.dashboard.health.read_health_raw`'s (the event log's own): the
same slots (`floor((ts - start) / slot)`), counts and cost sums, and the hour's p95 latency as
numpy's linear quantile (`quantileExactInclusive`, the same definition), not the roll-up's
histogram estimate.

    counts = read_counts(events.backend, ["support-bot"], first, end)     # per minute
    p95 = read_p95(events.backend, ["support-bot"], first, end)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sqlalchemy as sa

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.sql import to_clickhouse
from rampway.events.tables import request_events

MINUTE = 60.0

#: (requests, errors, fallbacks, cost) per slot, per feature
Counts = dict[str, dict[int, tuple[int, int, int, float]]]


def read_counts(backend: Backend, features: Sequence[str], first: int, end: int,
                every: int = 1) -> Counts:
    """Per feature, per slot of `every` minutes from minute `first` (slot 0) up to minute
    `end` (exclusive): (requests, errors, fallbacks, cost) — `rampway.events.health.
    read_counts`' shape, from the requests themselves."""
    e = request_events.c
    start, bucket = first * MINUTE, every * MINUTE
    slot = sa.func.toInt64(sa.func.floor((e.ts - start) / bucket)).label("slot")
    query = (
        sa.select(e.feature, slot, sa.func.count(), sa.func.countIf(e.status != "ok"),
                  sa.func.countIf(e.fallback_used), sa.func.sum(e.cost_usd))
        .where(e.feature.in_(list(features)), e.ts >= start, e.ts < end * MINUTE)
        .group_by(e.feature, slot)
    )
    out: Counts = {f: {} for f in features}
    if not features:
        return out
    found = backend.columns(to_clickhouse(query))
    for feature, at, n, errors, fallbacks, cost in zip(*found, strict=True):
        out[feature][int(at)] = (int(n), int(errors), int(fallbacks), float(cost))
    return out


def read_p95(backend: Backend, features: Sequence[str], first: int, end: int) -> dict[str, float]:
    """Per feature, the linear 0.95-quantile of the latency of minutes [first, end) (NaN
    when nothing was served)."""
    e = request_events.c
    out = dict.fromkeys(features, math.nan)
    if not features:
        return out
    # a parametric aggregate, `name(parameter)(column)`: no SQLAlchemy function renders it
    p95: sa.ColumnElement[float] = sa.literal_column(
        "quantileExactInclusive(0.95)(request_events.latency_ms)")
    query = (sa.select(e.feature, p95)
             .where(e.feature.in_(list(features)), e.ts >= first * MINUTE,
                    e.ts < end * MINUTE)
             .group_by(e.feature))
    for feature, value in zip(*backend.columns(to_clickhouse(query)), strict=True):
        out[feature] = float(value)
    return out


__all__ = ["read_counts", "read_p95"]
