"""The health roll-up: per feature, release and minute, what the overview's health panel shows.

The overview shows every feature's requests/min, error rate, p95 latency, cost/hour, fallback
rate and sparklines over the last hour and day. Read from the event log that is a scan of every
request of the last day per view (6.6 s at 1M events on SQLite); read from this roll-up it is a
few hundred small rows. The event sink keeps it in each batch's own transaction
(`HealthRollup.apply`), so a committed batch is in the roll-up and a rolled-back one is not.

Per (feature, epoch minute, release) one `health_minutes` row holds requests, errors (status not
"ok"), fallbacks, the cost sum and `latency`: how many of those requests fell in each latency
bucket, as (bucket, count) uint32 pairs. Buckets are log-spaced: bucket 0 is [0, 1 ms), bucket
k >= 1 is [1 ms * 1.05^(k-1), 1 ms * 1.05^k), so a quantile read off the histogram is within
one bucket (5%, or 1 ms below 1 ms) of the event log's (`quantile`). Counts and sums are exact
(the cost sum up to float rounding: minute sums added up instead of one sum).

A batch adds to the rows it touches (`INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`,
SQLite and PostgreSQL alike), keys in sorted order so two gateways' batches never deadlock; the
upsert leaves each row locked until the commit (PostgreSQL's row lock, SQLite's write lock), so
the batch then takes those rows' histograms (returned by the upsert), adds its own and writes
them back without another writer in between. A batch of one minute and three features is three
rows and two statements, however many requests and latency buckets it has (a row per bucket
cost 16-42 us per request; this costs the writer thread ~2-4 us of Python per request, mostly
summing the batch).

Events written before the roll-up existed, or around the sink (bulk loads), are rolled up by
`rebuild` (`rampway events rebuild-health --since 1d`), which recomputes the roll-up from the
event log from a minute on, holding off the sinks' roll-up writes meanwhile. Retention prunes
the roll-up's whole minutes before its cutoff (`prune_rollup`).

    rollup = HealthRollup(store.engine.dialect)
    with store.transaction() as conn:
        ...  # the batch's events
        rollup.apply(conn, requests)
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from rampway.events.tables import health_minutes, request_events

if TYPE_CHECKING:
    from rampway.events.model import RequestEvent
    from rampway.store import Store

MINUTE = 60.0
LOW_MS = 1.0
RATIO = 1.05
_INV_LOG_R = 1.0 / math.log(RATIO)
#: The last bucket; latencies beyond ~2.8 hours are counted in it.
TOP_BUCKET = math.ceil(math.log(1e7 / LOW_MS) * _INV_LOG_R)
#: From here every latency is in TOP_BUCKET (the formula would clamp it there anyway).
TOP_MS = 1e7

# what a request contributes, in this order (RequestEvent attributes = request_events columns)
FIELDS = ("feature", "release_id", "ts", "status", "fallback_used", "cost_usd", "latency_ms")
_fields = operator.attrgetter(*FIELDS)

REBUILD_CHUNK = 20_000


def latency_bucket(ms: float) -> int:
    """The bucket a latency (ms) is counted in.

    >>> latency_bucket(0.4), latency_bucket(1.0), latency_bucket(1.04), latency_bucket(1.06)
    (0, 1, 1, 2)
    """
    if not ms >= LOW_MS:  # also NaN
        return 0
    if ms >= TOP_MS:  # before the logarithm: infinity (or ~1e308 / LOW_MS) would overflow
        return TOP_BUCKET
    return min(TOP_BUCKET, int(math.log(ms / LOW_MS) * _INV_LOG_R) + 1)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """[low, high) of a bucket, in ms."""
    if bucket <= 0:
        return 0.0, LOW_MS
    return LOW_MS * RATIO ** (bucket - 1), LOW_MS * RATIO**bucket


def quantile(histogram: Mapping[int, int], p: float) -> float:
    """numpy's default (linear) p-quantile of the latencies a histogram counts, each order
    statistic estimated inside its bucket (values spread evenly in log over it); NaN if empty.
    Each of the two order statistics is within its bucket, so the result is within one bucket
    width of the exact quantile.

    >>> round(quantile({latency_bucket(100.0): 10}, 0.95), 1)
    101.6
    """
    n = sum(histogram.values())
    if n <= 0:
        return math.nan
    pos = p * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    order = sorted((b, c) for b, c in histogram.items() if c > 0)
    a, b = _order_statistic(order, lo), _order_statistic(order, hi)
    return a + (b - a) * (pos - lo)


def _order_statistic(order: Sequence[tuple[int, int]], rank: int) -> float:
    """The estimated `rank`-th smallest value (0-based) of a sorted (bucket, count) list."""
    seen = 0
    for bucket, count in order:
        if rank < seen + count:
            low, high = bucket_bounds(bucket)
            f = (rank - seen + 0.5) / count
            return low + f * (high - low) if bucket == 0 else low * (high / low) ** f
        seen += count
    raise ValueError(f"rank {rank} beyond the histogram's {seen} values")


_PAIRS = "I" if array("I").itemsize == 4 else "L"  # uint32


def encode(histogram: Mapping[int, int]) -> bytes:
    """(bucket, count) pairs as little-endian uint32s, by bucket.

    >>> decode(encode({7: 2, 3: 1}))
    {3: 1, 7: 2}
    """
    pairs = array(_PAIRS)
    for bucket in sorted(histogram):
        pairs.append(bucket)
        pairs.append(histogram[bucket])
    if sys.byteorder == "big":
        pairs.byteswap()
    return pairs.tobytes()


def decode(blob: bytes | None) -> dict[int, int]:
    pairs = array(_PAIRS)
    pairs.frombytes(blob or b"")
    if sys.byteorder == "big":
        pairs.byteswap()
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def merge(into: dict[int, int], histogram: Mapping[int, int]) -> dict[int, int]:
    for bucket, n in histogram.items():
        into[bucket] = into.get(bucket, 0) + n
    return into


class Sums:
    """A batch (or a rebuild) summed per (feature, release, minute), before it is written:
    [requests, errors, fallbacks, cost, {latency bucket: count}]."""

    __slots__ = ("minutes",)

    def __init__(self) -> None:
        self.minutes: dict[tuple[str, str, int], list[Any]] = {}

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Add rows of `FIELDS` values: (feature, release_id, ts, status, fallback_used,
        cost_usd, latency_ms)."""
        minutes = self.minutes
        log, low, inv, top = math.log, LOW_MS, _INV_LOG_R, TOP_BUCKET
        for feature, release, ts, status, fallback, cost, ms in rows:
            key = (feature, release or "", int(ts // MINUTE))
            m = minutes.get(key)
            if m is None:
                m = minutes[key] = [0, 0, 0, 0.0, {}]
            m[0] += 1
            if status != "ok":
                m[1] += 1
            if fallback:
                m[2] += 1
            m[3] += cost
            bucket = (top if ms >= TOP_MS else min(top, int(log(ms / low) * inv) + 1)) \
                if ms >= low else 0  # `latency_bucket`, inlined
            hist = m[4]
            hist[bucket] = hist.get(bucket, 0) + 1

    def minute_rows(self, latency: bool = False) -> list[dict[str, Any]]:
        """The rows to add, by key; `latency`: with their histograms (else empty ones)."""
        return [{"feature": f, "release_id": r, "minute": m, "requests": v[0], "errors": v[1],
                 "fallbacks": v[2], "cost_usd": v[3],
                 "latency": encode(v[4]) if latency else b""}
                for (f, r, m), v in sorted(self.minutes.items())]


class HealthRollup:
    """Adds batches of request events to the roll-up, inside the caller's transaction."""

    def __init__(self, dialect: Dialect) -> None:
        self._add = _adding(dialect, health_minutes,
                            ("requests", "errors", "fallbacks", "cost_usd"))
        c = health_minutes.c
        # the rows as they are after the upsert: their histograms come back with it
        self._add = self._add.returning(c.feature, c.minute, c.release_id, c.latency)
        self._set = (health_minutes.update()
                     .where(c.feature == sa.bindparam("k_feature"),
                            c.minute == sa.bindparam("k_minute"),
                            c.release_id == sa.bindparam("k_release"))
                     .values(latency=sa.bindparam("k_latency")))

    def apply(self, conn: Connection, requests: Sequence[RequestEvent]) -> None:
        if not requests:
            return
        sums = Sums()
        sums.add(map(_fields, requests))
        self.write(conn, sums)

    def write(self, conn: Connection, sums: Sums) -> None:
        """Add the counters (locking the rows, returning their histograms), then merge the
        histograms into the rows'."""
        if not sums.minutes:
            return
        keys = sorted(sums.minutes)
        stored = {(r.feature, r.minute, r.release_id): r.latency
                  for r in conn.execute(self._add, sums.minute_rows())}
        conn.execute(self._set, [
            {"k_feature": f, "k_minute": m, "k_release": r,
             "k_latency": encode(merge(decode(stored.get((f, m, r))), sums.minutes[f, r, m][4]))}
            for f, r, m in keys])


def _adding(dialect: Dialect, table: sa.Table, counters: Sequence[str]) -> Any:
    """`INSERT … ON CONFLICT (key) DO UPDATE SET c = c + excluded.c` for each counter."""
    if dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect.name == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise ValueError(f"the health roll-up needs SQLite or PostgreSQL, not {dialect.name}")
    key = [c.name for c in table.primary_key.columns]
    return stmt.on_conflict_do_update(
        index_elements=key, set_={c: table.c[c] + stmt.excluded[c] for c in counters})


@dataclass(frozen=True, slots=True)
class RebuildResult:
    since: float  # the first minute rebuilt (epoch seconds)
    events: int  # request events read
    minutes: int  # health_minutes rows written


def rebuild(store: Store, since: float) -> RebuildResult:
    """Recompute the roll-up from the event log for every minute from `since`'s on.

    One transaction: on PostgreSQL it first locks the roll-up table against writes (readers
    go on), so a sink's batch either committed before — its events are read here — or adds to
    the roll-up after this commits, its events not yet visible here; on SQLite the write
    transaction already excludes the sinks. The sinks' batches wait meanwhile (seconds per
    million events)."""
    first = math.floor(since / MINUTE)
    e = request_events.c
    query = sa.select(*(e[name] for name in FIELDS)).where(e.ts >= first * MINUTE)
    events = 0
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("LOCK TABLE health_minutes IN EXCLUSIVE MODE"))
        conn.execute(health_minutes.delete().where(health_minutes.c.minute >= first))
        sums = Sums()
        result = conn.execute(query, execution_options={"yield_per": REBUILD_CHUNK})
        for part in result.partitions():
            sums.add(part)
            events += len(part)
        rows = sums.minute_rows(latency=True)
        if rows:
            conn.execute(health_minutes.insert(), rows)
    return RebuildResult(since=first * MINUTE, events=events, minutes=len(sums.minutes))


def prune_rollup(store: Store, cutoff: float) -> int:
    """Delete the roll-up's minutes that end at or before `cutoff` (whole minutes only, so a
    minute the event log still partly holds stays); the health_minutes rows deleted."""
    last = math.floor(cutoff / MINUTE)
    with store.transaction() as conn:
        return int(conn.execute(
            health_minutes.delete().where(health_minutes.c.minute < last)).rowcount)


# -- reading --------------------------------------------------------------------------------


def read_counts(
    conn: Connection, features: Sequence[str], first: int, end: int, every: int = 1,
) -> dict[str, dict[int, tuple[int, int, int, float]]]:
    """Per feature, per slot of `every` minutes from minute `first` (slot 0) up to minute
    `end` (exclusive), all releases together: (requests, errors, fallbacks, cost)."""
    c = health_minutes.c
    slot = (c.minute - first) // every if every > 1 else c.minute - first
    query = (
        sa.select(c.feature, slot, sa.func.sum(c.requests), sa.func.sum(c.errors),
                  sa.func.sum(c.fallbacks), sa.func.sum(c.cost_usd))
        .where(c.feature.in_(list(features)), c.minute >= first, c.minute < end)
        .group_by(c.feature, slot)
    )
    out: dict[str, dict[int, tuple[int, int, int, float]]] = {f: {} for f in features}
    for feature, at, n, errors, fallbacks, cost in conn.execute(query):
        out[feature][int(at)] = (int(n), int(errors), int(fallbacks), float(cost))
    return out


def read_latency(
    conn: Connection, features: Sequence[str], first: int, end: int,
) -> dict[str, dict[int, int]]:
    """Per feature, the latency histogram (bucket → count) of minutes [first, end)."""
    c = health_minutes.c
    query = (sa.select(c.feature, c.latency)
             .where(c.feature.in_(list(features)), c.minute >= first, c.minute < end))
    out: dict[str, dict[int, int]] = {f: {} for f in features}
    for feature, blob in conn.execute(query):
        merge(out[feature], decode(blob))
    return out


__all__ = [
    "LOW_MS",
    "RATIO",
    "HealthRollup",
    "RebuildResult",
    "Sums",
    "bucket_bounds",
    "decode",
    "encode",
    "latency_bucket",
    "prune_rollup",
    "quantile",
    "read_counts",
    "read_latency",
    "rebuild",
]
