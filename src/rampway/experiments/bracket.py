"""Exact latency quantiles on PostgreSQL in two light passes beside the per-unit query.

`rampway.experiments.extract` needs, per arm and q, the q-quantile of the successful requests'
latencies of singly exposed units, the per-unit count at or below it (Woodruff's share) and
the quantiles at q ± z·se. The generic path copies every such latency into a temporary table
and sorts it (11 s of a 24 s analysis over 1M requests). Here instead:

1. `histogram`: per arm, the window's successful latencies counted in log buckets (1.6%
   wide; one scan, a hash aggregate of a few thousand groups, parallel).
2. `brackets` picks, per arm and q, a latency range [lo, hi) holding the ranks around
   q (n - 1) with a margin (`MARGIN`, ~1% of n: Woodruff's q ± z·se lies well inside it);
   the per-unit query then counts each unit's successful requests below `lo` (one more
   SUM in the pass it makes anyway, `below_columns`).
3. `bracket_rows`: the successful requests inside the brackets (arm, unit key, latency):
   ~2% of them, sorted by the client.

The histogram is a guide, not part of the result: it counts multiply exposed units too. The
order statistics come from exact counts of singly exposed units (the per-unit rows) plus the
bracket's rows of those units; a rank outside a bracket (many multiple exposures, a
degenerate distribution) is read by `ORDER BY … LIMIT OFFSET` as on the generic path. So the
numbers are the generic path's, to the last bit. Units are matched between the passes by
`hashtextextended` of the unit label (64 bits); two units with one key would make the
extraction use the generic path instead (checked, never seen: ~10⁻⁸ at 500k units).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from rampway.events.tables import request_events, unit_column
from rampway.experiments.model import Arm
from rampway.stats._units import share_se, woodruff_se

#: Buckets per e-fold of latency in the histogram: 64 → each bucket is 1.6% wide.
PER_E = 64
#: The bracket's margin in ranks on either side of q (n - 1): this share of n, at least
#: `MIN_MARGIN`. Woodruff's ranks are z·se away (0.6% of n at 1M requests in the bench).
MARGIN = 0.01
MIN_MARGIN = 2_000
#: The histogram reads a page sample of about this many rows of a larger request table,
#: unless it holds fewer than SAMPLE_MIN successful requests of an arm.
SAMPLE = 500_000
SAMPLE_MIN = 20_000
_NONPOSITIVE = -(10**9)  # the bucket of latencies <= 0 (no logarithm)


class Missed(Exception):
    """The bracket does not hold the quantile: the arm takes the generic path."""


@dataclass(frozen=True, slots=True)
class Bracket:
    """Latencies in [lo, hi) of arm `arm` (its index), for quantile q."""

    arm: int
    q: float
    lo: float
    hi: float


def arm_index(arms: Sequence[Arm]) -> sa.ColumnElement[int]:
    """The request's arm as its index in `arms` (the window holds only these arms)."""
    ev = request_events.c
    return sa.case(*((ev.arm == a.name, i) for i, a in enumerate(arms)), else_=-1)


def unit_key(unit: str) -> sa.ColumnElement[int]:
    """A 64-bit key of the unit label, shipped instead of the 64-character label."""
    return sa.func.hashtextextended(unit_column(request_events, unit), 0,
                                    type_=sa.BigInteger())


def histogram(conn: sa.Connection, arms: Sequence[Arm],
              window: Callable[[sa.FromClause], sa.ColumnElement[bool]],
              ) -> dict[int, tuple[NDArray[np.float64], NDArray[np.int64]]]:
    """Per arm index: (bucket, count) of its successful latencies in `window(rows)`, by
    bucket. Over a large table, of a page sample (`TABLESAMPLE SYSTEM`, ~`SAMPLE` rows): the
    histogram only places the brackets, and PostgreSQL aggregates it without workers (it
    expects a group per distinct latency). Over the whole table again when the sample holds
    fewer than `SAMPLE_MIN` of an arm's rows (a small window in a large table)."""
    share = min(1.0, SAMPLE / max(1.0, _table_rows(conn)))
    found = _histogram(conn, arms, window, share) if share < 1 else {}
    if not found or min(int(c.sum()) for _, c in found.values()) < SAMPLE_MIN:
        found = _histogram(conn, arms, window, 1.0)
    return found


def _table_rows(conn: sa.Connection) -> float:
    """PostgreSQL's estimate of the request table's rows (its partitions')."""
    return float(conn.scalar(sa.text(
        "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) FROM pg_class c "
        "WHERE c.oid = 'request_events'::regclass OR c.oid IN "
        "(SELECT inhrelid FROM pg_inherits WHERE inhparent = 'request_events'::regclass)"))
        or 0.0)


def _histogram(conn: sa.Connection, arms: Sequence[Arm],
               window: Callable[[sa.FromClause], sa.ColumnElement[bool]], share: float,
               ) -> dict[int, tuple[NDArray[np.float64], NDArray[np.int64]]]:
    source: sa.FromClause = request_events
    if share < 1:
        source = request_events.tablesample(sa.func.system(100 * share), name="sampled")
    ev = source.c
    bucket = sa.case((ev.latency_ms > 0, sa.func.floor(sa.func.ln(ev.latency_ms) * PER_E)),
                     else_=_NONPOSITIVE)
    arm = sa.case(*((ev.arm == a.name, i) for i, a in enumerate(arms)), else_=-1)
    rows = conn.execute(sa.select(arm, bucket, sa.func.count())
                        .where(window(source), ev.status == "ok").group_by(arm, bucket)).all()
    out: dict[int, tuple[NDArray[np.float64], NDArray[np.int64]]] = {}
    for i in range(len(arms)):
        mine = sorted((float(b), int(c)) for a, b, c in rows if a == i and not math.isnan(b))
        out[i] = (np.asarray([b for b, _ in mine], dtype=np.float64),
                  np.asarray([c for _, c in mine], dtype=np.int64))
    return out


def _edge(bucket: float) -> float:
    """The lower edge of a bucket."""
    if bucket == _NONPOSITIVE:
        return -math.inf
    try:
        return math.exp(bucket / PER_E)
    except OverflowError:
        return math.inf


def brackets(hist: Mapping[int, tuple[NDArray[np.float64], NDArray[np.int64]]],
             qs: Sequence[float]) -> list[Bracket]:
    """Per arm and q, the buckets holding ranks q (n - 1) ± the margin, as a latency range."""
    out = []
    for arm, (buckets, counts) in hist.items():
        n = int(counts.sum())
        if n == 0:
            continue
        cum = np.cumsum(counts)
        margin = max(MIN_MARGIN, math.ceil(MARGIN * n))
        for q in qs:
            rank = q * (n - 1)
            first = int(np.searchsorted(cum, max(0.0, rank - margin), side="right"))
            last = int(np.searchsorted(cum, min(n - 1.0, rank + margin + 1), side="right"))
            first, last = min(first, buckets.size - 1), min(last, buckets.size - 1)
            hi = _edge(buckets[last] + 1) if buckets[last] != _NONPOSITIVE else 5e-324
            out.append(Bracket(arm, q, _edge(buckets[first]), hi))
    return out


def below_columns(arms_index: sa.ColumnElement[int], bracket_list: Sequence[Bracket],
                  qs: Sequence[float]) -> list[sa.Label[Any]]:
    """Per q (column `below{j}`): the unit's successful requests below its arm's bracket."""
    ev = request_events.c
    columns = []
    for j, q in enumerate(qs):
        lows = [(b.arm, b.lo) for b in bracket_list if b.q == q]
        lo = sa.case(*((arms_index == a, sa.literal(v, sa.Float())) for a, v in lows),
                     else_=sa.literal(-math.inf, sa.Float())) if lows else \
            sa.literal(-math.inf, sa.Float())
        columns.append(sa.func.sum(sa.case((sa.and_(ev.status == "ok", ev.latency_ms < lo), 1),
                                           else_=0)).label(f"below{j}"))
    return columns


def bracket_rows(conn: sa.Connection, window: sa.ColumnElement[bool], arms: Sequence[Arm],
                 bracket_list: Sequence[Bracket], unit: str,
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(arm index, unit key, latency) of the successful requests inside any bracket."""
    if not bracket_list:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.float64))
    ev = request_events.c
    arm = arm_index(arms)
    inside = sa.or_(*(sa.and_(ev.arm == arms[b.arm].name, ev.latency_ms >= b.lo,
                              ev.latency_ms < b.hi) for b in bracket_list))
    result = conn.execute(sa.select(arm, unit_key(unit), ev.latency_ms)
                          .where(window, ev.status == "ok", inside))
    arms_of, keys, values = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], \
        [np.zeros(0, dtype=np.float64)]
    for chunk in result.partitions(20_000):  # numpy as they come: ~2% of the requests
        arms_of.append(np.asarray([r[0] for r in chunk], dtype=np.int64))
        keys.append(np.asarray([r[1] for r in chunk], dtype=np.int64))
        values.append(np.asarray([r[2] for r in chunk], dtype=np.float64))
    return np.concatenate(arms_of), np.concatenate(keys), np.concatenate(values)


def arm_quantile(
    q: float, bracket: Bracket | None, keys: NDArray[np.int64], ok: NDArray[np.float64],
    below_lo: NDArray[np.float64], rows: tuple[NDArray[np.int64], NDArray[np.float64]],
    order_statistic: Callable[[float], float],
) -> tuple[float, float, int]:
    """(q-quantile, Woodruff standard error, units) of one arm from its singly exposed units
    (`keys`, sorted; their successful requests `ok` and those below the bracket `below_lo`)
    and the bracket's rows (unit key, latency). `order_statistic(p)` reads a p-quantile the
    bracket does not hold from the database."""
    if bracket is None:
        raise Missed
    has = ok > 0
    keys, ok, below_lo = keys[has], ok[has], below_lo[has]
    n = int(ok.sum())
    if n == 0:
        return math.nan, math.inf, 0
    row_keys, values = rows  # every bracket's of this arm: keep this one's
    where = np.searchsorted(keys, row_keys)
    mine = ((where < keys.size) & (keys[np.minimum(where, keys.size - 1)] == row_keys)
            & (values >= bracket.lo) & (values < bracket.hi))
    where, values = where[mine], values[mine]
    order = np.argsort(values, kind="stable")
    where, values = where[order], values[order]
    start = int(below_lo.sum())

    def held(p: float) -> tuple[float, int, int] | None:
        pos = p * (n - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        return (pos, lo, hi) if start <= lo and hi < start + values.size else None

    def quantile_at(p: float) -> float:
        found = held(p)
        if found is None:
            return order_statistic(p)
        pos, lo, hi = found
        a, b = float(values[lo - start]), float(values[hi - start])
        return a + (b - a) * (pos - lo)

    if held(q) is None:  # the per-unit counts at the quantile need it inside the bracket
        raise Missed
    quantile = quantile_at(q)
    below = below_lo + np.bincount(where[values <= quantile], minlength=keys.size)
    se = woodruff_se(quantile_at, q, share_se(below, ok))
    return quantile, se, int(keys.size)



__all__ = ["MARGIN", "Bracket", "Missed", "arm_index", "arm_quantile", "below_columns",
           "bracket_rows", "brackets", "histogram", "unit_key"]
