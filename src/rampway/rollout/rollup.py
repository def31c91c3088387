"""The judge's roll-up: per-arm sums over units, kept up to date by the event sink, so a look
reads two small rows instead of the window's requests (issue #18, "a look costs the same at
hour 1 and day 30"). The controller reads it (`load_look`) whenever it covers the step's
window and falls back to `rampway.rollout.totals` otherwise; it opens a segment per step
(`rampway.rollout.segments`: since = `step_started_at`), calls `merge_guard` ~30 s into the
step, and the finished steps' rows are pruned (`segments.prune_finished`). Every
`SqlEventSink` keeps it (for the features with a segment; bench/judge_look.py and
bench/ingestion.py measure both sides, figures in the README).

The judge needs, per guardrail and arm, the units' (sum, count) pairs — and of those only the
moments the delta method uses: K units, Σx, Σy, Σx², Σy², Σxy (`UnitMoments`). Those can be
kept incrementally: when a batch moves a unit from (x, y) to (x', y') each moment changes by
f(x', y') - f(x, y), whatever other writers did before or after (the changes telescope). So
per batch the sink (in the batch's own transaction):

1. finds the segment of each request — its feature's latest `rollup_segments.since` at or
   before its `ts` (a rollout step's window start); requests of features without a segment
   cost nothing more;
2. sums the batch per unit in numpy (one row per unit touched, not per request);
3. locks the arm's row (`rollup_arms`, `FOR UPDATE` on PostgreSQL; SQLite's write lock already
   serialises batches), reads the touched units' rows, writes them back updated, and adds the
   moments' change to the arm's row.

Quantile guardrails (p95 latency) turn each request into "beyond the threshold t", and t is
only known at look time (the baseline's quantile). So each unit keeps a sparse histogram of
its latencies over fixed log-spaced buckets (1% wide), and the arm keeps, per bucket edge j,
Σ_u e_u(j)² and Σ_u e_u(j) n_u, where e_u(j) counts the unit's requests at or above edge j.
The look reads the threshold off the arm's histogram and interpolates the moments inside its
bucket: the only approximation (see `tests/rollout/test_rollout_rollup.py` for how close).

A segment's first `GUARD_SECONDS` are left to the look, which reads them from the event log
and merges them with their units' rows: the roll-up then holds every request a writer could
have seen the segment for, so a look equals the per-unit totals of the window, not almost.

Not rolled up: feedback guardrails (feedback rows are few; read as `rampway.rollout.totals`
does). The roll-up has no end, so a look whose `until` has requests at or after it (a clock
far ahead, a look at a past moment) is not covered and reads the event log instead.

Covered only what a `SqlEventSink` or a `ClickHouseSink` given the control store writes:
events written by other means (a custom sink) are not rolled up — such a fleet runs its
controller with `Controller(rollup=False)`.

Events in ClickHouse, roll-up here: the same roll-up, kept by the ClickHouse sink in the control
database (`rampway.events.clickhouse.sink`), with a ledger of batch tokens so that a batch is
rolled up once and only after ClickHouse has it (`rampway.rollout.batches`). Whatever reads the
event log — the guard seconds (`merge_guard`, `guard_change`) and the coverage checks of a look
— then reads ClickHouse: `Rollup(dialect, events=…)`, an `EventLog` (`ClickHouseEvents.guard`).
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection, Dialect

from rampway._latency_buckets import (
    BUCKETS,
    LOG_RATIO,
    LOW_MS,
    TOP_MS,
    histogram_quantile,
)
from rampway._latency_buckets import RATIO as RATIO  # re-exported
from rampway._latency_buckets import lower_edge as lower_edge
from rampway._latency_buckets import position as bucket_position
from rampway.events.tables import request_events, unit_column
from rampway.rollout import batches, segments
from rampway.rollout.metrics import metric_def
from rampway.rollout.observations import Totals, UnitMoments
from rampway.rollout.plan import Guardrail
from rampway.rollout.segments import open_segment
from rampway.rollout.tables import rollup_arms, rollup_segments, rollup_units
from rampway.store import Store

if TYPE_CHECKING:
    from rampway.rollout.totals import LookTotals

ARMS = ("baseline", "candidate")
#: Units are counted for the SRM check from this long after the window starts
#: (`rampway.rollout._judge.SRM_SETTLE_SECONDS`, not imported: the sink must stay light).
SETTLE_SECONDS = 10.0

#: Requests of a segment's first seconds are not rolled up; a look reads them from the event
#: log instead (`Rollup.guard_change`). The segment's row is committed a moment after its
#: `since`, and a writer that looked for segments before that would have missed them: a
#: request at `since + GUARD_SECONDS` or later is written after that moment, so every
#: writer sees the segment by then (given clocks within a few seconds of each other).
GUARD_SECONDS = 5.0

# -- latency buckets (`rampway._latency_buckets`, shared with the experiments' roll-up)
_LOG_R = LOG_RATIO

# -- one unit's state: float64 counters
N, ERR, FB, REF, OK, TTFT_N, COST, TOK, LAST = range(9)
STATE = 9
#: (source, x column, y column) of the rate and mean guardrails, as `rollout.metrics` reads them
PAIRS = (("error", ERR, N), ("fallback", FB, N), ("refusal", REF, N), ("cost_usd", COST, N),
         ("output_tokens", TOK, OK))
#: (source, count column) of the quantile guardrails
QUANTILES = (("latency_ms", OK), ("ttft_ms", TTFT_N))

Array = NDArray[np.float64]
Columns = tuple[tuple[Any, ...], ...]  # a request's attributes, column-wise, in `_COLUMNS` order


class EventLog(Protocol):
    """The event log's reads the roll-up needs, when the events are not in the control
    database (`rampway.events.clickhouse.guard.ClickHouseGuard`)."""

    def guard_columns(self, feature: str, since: float, release: str | None, arm: str | None,
                      until: float) -> Columns:
        """The requests of `feature` in `[since, min(until, since + GUARD_SECONDS))` (of one
        arm and release, or all), as columns in `_COLUMNS`' order."""
        ...

    def newest(self, feature: str, since: float, until: float, unit: str, limit: int,
               ) -> tuple[bool, list[tuple[Any, ...]]]:
        """Whether `feature` has a request at or after `until`, and the `limit` newest requests
        in `[since, until)` as (arm, release_id, unit — the request's id without one —, ts)."""
        ...

    def feedback(self, feature: str, releases: Mapping[str, str],
                 guardrails: Sequence[Guardrail], since: float, until: float, unit: str,
                 ) -> Mapping[int, tuple[Totals, Totals]]:
        """`rampway.rollout.totals.feedback_totals` on that event log."""
        ...


class ArmLayout:
    """Where each sum sits in an arm's `moments` vector."""

    PAIR = 6  # K, Σx, Σy, Σx², Σy², Σxy
    QSCALARS = 3  # K, Σn, Σn²
    SETTLED = len(PAIRS) * PAIR + len(QUANTILES) * QSCALARS
    ARRAYS = SETTLED + 1  # then per quantile source: histogram, Σe², Σen (BUCKETS each)
    SIZE = ARRAYS + len(QUANTILES) * 3 * BUCKETS

    @classmethod
    def pair(cls, i: int) -> slice:
        return slice(i * cls.PAIR, (i + 1) * cls.PAIR)

    @classmethod
    def qscalars(cls, i: int) -> slice:
        start = len(PAIRS) * cls.PAIR + i * cls.QSCALARS
        return slice(start, start + cls.QSCALARS)

    @classmethod
    def qarray(cls, i: int, which: int) -> slice:
        start = cls.ARRAYS + (i * 3 + which) * BUCKETS
        return slice(start, start + BUCKETS)


def bucket_of(values: Array) -> NDArray[np.int64]:
    """The bucket of each latency (ms)."""
    top = ~(values < TOP_MS)  # also NaN: the last bucket, as `bucket_of_ms` (no overflow)
    inside = np.where(top, LOW_MS, np.maximum(values, LOW_MS))
    k = np.floor(np.log(inside / LOW_MS) / _LOG_R).astype(np.int64) + 1
    k[values < LOW_MS] = 0
    k[top] = BUCKETS - 1
    return np.clip(k, 0, BUCKETS - 1)


# -- sparse histograms: (unit index, bucket, count) triplets --------------------------------

@dataclass(frozen=True, slots=True)
class Sparse:
    unit: NDArray[np.int64]
    bucket: NDArray[np.int64]
    count: Array

    @classmethod
    def empty(cls) -> Sparse:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))

    def plus(self, other: Sparse) -> Sparse:
        """Counts added per (unit, bucket); sorted by unit, then bucket."""
        key = np.concatenate([self.unit * BUCKETS + self.bucket,
                              other.unit * BUCKETS + other.bucket])
        if not key.size:
            return Sparse.empty()
        keys, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([self.count, other.count]))
        return Sparse(keys // BUCKETS, keys % BUCKETS, counts.astype(np.float64))

    def blobs(self, units: int) -> list[bytes]:
        """One blob per unit: int32 (bucket, count) pairs."""
        order = np.argsort(self.unit, kind="stable")
        pairs = np.stack([self.bucket[order], self.count[order]], axis=1).astype(np.int32)
        bounds = np.searchsorted(self.unit[order], np.arange(units + 1))
        return [pairs[bounds[i]:bounds[i + 1]].tobytes() for i in range(units)]

    @classmethod
    def from_blobs(cls, blobs: Sequence[bytes]) -> Sparse:
        parts = [np.frombuffer(b, dtype=np.int32).reshape(-1, 2) for b in blobs]
        sizes = np.fromiter((p.shape[0] for p in parts), np.int64, len(parts))
        if not sizes.sum():
            return Sparse.empty()
        pairs = np.concatenate(parts)
        return Sparse(np.repeat(np.arange(len(parts), dtype=np.int64), sizes),
                      pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.float64))


def _exceedance(h: Sparse, n: Array) -> tuple[Array, Array, Array]:
    """Per bucket edge j: Σ_u e_u(j), Σ_u e_u(j)², Σ_u e_u(j) n_u, with e_u(j) the unit's
    count at or above bucket j. e_u is a step function of j: C_i (the unit's count in its i
    highest buckets) on (next lower bucket, i-th bucket], summed through a difference array."""
    if not h.unit.size:
        z = np.zeros(BUCKETS)
        return z, z.copy(), z.copy()
    order = np.lexsort((-h.bucket, h.unit))
    u, b, c = h.unit[order], h.bucket[order], h.count[order]
    first = np.r_[True, u[1:] != u[:-1]]
    last = np.r_[u[1:] != u[:-1], True]
    total = np.cumsum(c)
    before = np.r_[0.0, total][np.maximum.accumulate(np.where(first, np.arange(u.size), 0))]
    cum = total - before
    lower = np.r_[b[1:], -1]
    lower[last] = -1

    def spread(weights: Array) -> Array:
        diff = (np.bincount(lower + 1, weights, BUCKETS + 1)
                - np.bincount(b + 1, weights, BUCKETS + 1))
        return np.cumsum(diff)[:BUCKETS]

    return spread(cum), spread(cum * cum), spread(cum * n[u])


def arm_moments(state: Array, hists: Sequence[Sparse], settled_from: float) -> Array:
    """The `ArmLayout` vector of a set of units (rows of `state`, their histograms)."""
    out = np.zeros(ArmLayout.SIZE)
    for i, (_, x_col, y_col) in enumerate(PAIRS):
        x, y = state[:, x_col], state[:, y_col]
        has = y > 0
        out[ArmLayout.pair(i)] = (has.sum(), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(),
                                  (x * y).sum())
    for i, (_, n_col) in enumerate(QUANTILES):
        n = state[:, n_col]
        out[ArmLayout.qscalars(i)] = ((n > 0).sum(), n.sum(), (n * n).sum())
        h = hists[i]
        out[ArmLayout.qarray(i, 0)] = np.bincount(h.bucket, h.count, BUCKETS)
        _, e2, en = _exceedance(h, n)
        out[ArmLayout.qarray(i, 1)] = e2
        out[ArmLayout.qarray(i, 2)] = en
    out[ArmLayout.SETTLED] = (state[:, LAST] >= settled_from).sum()
    return out


# -- writing: one batch ---------------------------------------------------------------------

ArmKey = tuple[str, float, str, str]  # feature, since, release_id, arm


@dataclass(slots=True)
class _Batch:
    """A batch's requests of one arm key, summed per unit."""

    units: list[str]
    state: Array
    hists: list[Sparse]


_COLUMNS = operator.attrgetter("feature", "ts", "arm", "release_id", "unit_hash", "id",
                               "status", "fallback_used", "refusal", "ttft_ms", "cost_usd",
                               "output_tokens", "latency_ms", "session_hash")


def _group(events: Sequence[Any], found: segments.Segments) -> dict[ArmKey, _Batch]:
    """The batch's requests summed per arm key and unit — those of a segment in `found`, and
    at least `GUARD_SECONDS` into it unless it is merged: the attributes are read in C
    (`attrgetter`, `zip`), the sums made by numpy; Python touches each request once, to
    group it."""
    return _group_columns(tuple(zip(*map(_COLUMNS, events), strict=True)), found)


def _group_columns(columns: tuple[tuple[Any, ...], ...], found: segments.Segments,
                   ) -> dict[ArmKey, _Batch]:
    """`_group` on the attributes as columns (in `_COLUMNS`' order). A request's unit is its
    segment's: the user (`unit_hash`) or the session (`session_hash`); without one, the
    request is its own unit."""
    (feature, ts, arm, release, unit_hash, ids, status, fallback, refusal, ttft, cost, tokens,
     latency, session_hash) = columns
    ts_a = np.asarray(ts, dtype=np.float64)
    since = np.full(ts_a.size, np.nan)
    guards = np.full(ts_a.size, GUARD_SECONDS)
    by_session = np.zeros(ts_a.size, dtype=bool)
    features = np.asarray(feature, dtype=object)
    for name, spans in found.items():
        mine = features == name
        bounds = np.sort(np.asarray([span.since for span in spans], dtype=np.float64))
        at = np.searchsorted(bounds, ts_a[mine], side="right") - 1
        since[mine] = np.where(at >= 0, bounds[np.maximum(at, 0)], np.nan)
        for span in spans:
            this = mine & (since == span.since)
            guards[this] = 0.0 if span.merged else GUARD_SECONDS
            by_session[this] = span.unit == "session"
    rolled = (ts_a >= since + guards).tolist()  # False where NaN: no segment
    groups: dict[ArmKey, list[int]] = {}
    for i, key in enumerate(zip(feature, since.tolist(), release, arm, strict=True)):
        if rolled[i] and key[3] in ARMS and key[2] is not None:
            groups.setdefault(key, []).append(i)
    if not groups:
        return {}
    ok = np.asarray(status, dtype=object) == "ok"
    ttft_a = np.asarray([-1.0 if t is None else t for t in ttft], dtype=np.float64)
    has_ttft = ok & (ttft_a >= 0)
    table = np.zeros((ts_a.size, STATE))
    table[:, N] = 1.0
    table[:, ERR] = ~ok
    table[:, FB] = np.asarray(fallback, dtype=np.float64)
    table[:, REF] = np.asarray(refusal, dtype=np.float64)
    table[:, OK] = ok
    table[:, TTFT_N] = has_ttft
    table[:, COST] = np.asarray(cost, dtype=np.float64)
    table[:, TOK] = np.where(ok, np.asarray(tokens, dtype=np.float64), 0.0)
    table[:, LAST] = ts_a
    values = (np.where(ok, np.asarray(latency, dtype=np.float64), -1.0),
              np.where(has_ttft, ttft_a, -1.0))
    units = [(s if session else u) or i for u, s, i, session
             in zip(unit_hash, session_hash, ids, by_session.tolist(), strict=True)]
    return {key: _sum(index, units, table, values) for key, index in groups.items()}


def _sum(index: list[int], units: list[str], columns: Array,
         values: tuple[Array, Array]) -> _Batch:
    rows = np.asarray(index, dtype=np.int64)
    names, slot = np.unique(np.asarray([units[i] for i in index], dtype=object),
                            return_inverse=True)
    size = len(names)
    table = columns[rows]
    state = np.zeros((size, STATE))
    for col in range(LAST):
        state[:, col] = np.bincount(slot, table[:, col], size)
    state[:, LAST] = -np.inf
    np.maximum.at(state[:, LAST], slot, table[:, LAST])
    hists = []
    for value in values:
        v = value[rows]
        keep = v >= 0
        hists.append(Sparse(slot[keep], bucket_of(v[keep]),
                            np.ones(int(keep.sum()))).plus(Sparse.empty()))
    return _Batch([str(n) for n in names], state, hists)


class Rollup:
    """Keeps `rollup_units` and `rollup_arms` in step with the batches the sink writes; call
    `apply` inside the batch's transaction (`SqlEventSink(store, rollup=True)` does).

    The unit rows are read and written with SQL compiled once (driver-level executemany of
    plain tuples, as the sink writes events): SQLAlchemy's per-row parameter handling cost
    more than the roll-up itself."""

    def __init__(self, dialect: Dialect, events: EventLog | None = None) -> None:
        """`events`: where the event log is read (the guard seconds), when not in this
        database (ClickHouse)."""
        from sqlalchemy.dialects import postgresql, sqlite

        self._pg = dialect.name == "postgresql"
        self._events = events
        self._insert: Any = postgresql.insert if self._pg else sqlite.insert
        statement = self._insert(rollup_units)
        upsert = statement.on_conflict_do_update(
            index_elements=["feature", "since", "release_id", "arm", "unit"],
            set_={"state": statement.excluded.state, "latency": statement.excluded.latency,
                  "ttft": statement.excluded.ttft})
        compiled = upsert.compile(dialect=dialect)
        self._upsert = str(compiled)
        names = (list(compiled.positiontup or ()) if dialect.positional
                 else list(compiled.params))
        self._order = [names.index(c) for c in
                       ("feature", "since", "release_id", "arm", "unit", "state", "latency",
                        "ttft")]
        self._named = None if dialect.positional else names
        mark = "%s" if self._pg else "?"
        # placeholders only: every value is a bound parameter
        self._select = ("SELECT unit, state, latency, ttft FROM rollup_units WHERE "  # noqa: S608
                        f"feature = {mark} AND since = {mark} AND release_id = {mark} AND "
                        f"arm = {mark} AND unit ")

    def apply(self, conn: Connection, events: Sequence[Any],
              found: segments.Segments | None = None) -> None:
        """Roll the batch's requests into their segments' rows; `found`: the open segments
        of the batch's features, when the caller has read them (`segments.find`, FOR SHARE
        on PostgreSQL: `merge_guard` (FOR UPDATE) waits for the batches that read its
        segment unmerged, so the event log it reads holds every guard request they skipped)."""
        if found is None:
            found = segments.find(conn, {e.feature for e in events}, lock=self._pg)
        if not found:
            return
        for key, batch in sorted(_group(events, found).items()):
            self._apply_arm(conn, key, batch)

    def merge_guard(self, conn: Connection, feature: str, since: float) -> bool:
        """Roll the segment's first `GUARD_SECONDS` into the roll-up, once (True if it did
        now), so that looks read two rows only. Call it well after `since + GUARD_SECONDS`
        (the controller: 30 s into the step), when no writer can still hold a batch that read
        the segments before this one was committed."""
        seg = rollup_segments.c
        where = sa.and_(seg.feature == feature, seg.since == since)
        query = sa.select(seg.merged, seg.unit).where(where)
        row = conn.execute(query.with_for_update() if self._pg else query).first()
        if row is None or row.merged:
            return False
        columns = self._guard_columns(conn, feature, since, None, None, since + GUARD_SECONDS)
        # Events elsewhere: a batch still pending may be in that event log already (read just
        # now) and would roll up its guard seconds once it sees the segment merged — twice.
        # Read after the event log, so a batch reserved later was written after that read.
        if self._events is not None and batches.pending(conn, feature, since):
            return False
        if columns:
            whole = {feature: [segments.Segment(since, True, row.unit)]}
            for key, batch in sorted(_group_columns(columns, whole).items()):
                self._apply_arm(conn, key, batch)
        conn.execute(sa.update(rollup_segments).where(where).values(merged=True))
        return True

    def _guard_columns(self, conn: Connection, feature: str, since: float, release: str | None,
                       arm: str | None, until: float) -> Columns:
        """The segment's guard requests (of one arm and release, or all), as columns in
        `_COLUMNS`' order."""
        if self._events is not None:
            return self._events.guard_columns(feature, since, release, arm, until)
        ev = request_events.c
        where = [ev.feature == feature, ev.ts >= since,
                 ev.ts < min(until, since + GUARD_SECONDS)]
        if arm is not None:
            where += [ev.arm == arm, ev.release_id == release]
        rows = conn.execute(sa.select(
            ev.feature, ev.ts, ev.arm, ev.release_id, ev.unit_hash, ev.id, ev.status,
            ev.fallback_used, ev.refusal, ev.ttft_ms, ev.cost_usd, ev.output_tokens,
            ev.latency_ms, ev.session_hash).where(*where)).all()
        return tuple(zip(*rows, strict=True))

    def _apply_arm(self, conn: Connection, key: ArmKey, batch: _Batch) -> None:
        where = _arm_where(rollup_arms, key)
        conn.execute(self._insert(rollup_arms).values(
            feature=key[0], since=key[1], release_id=key[2], arm=key[3],
            moments=np.zeros(ArmLayout.SIZE).tobytes()).on_conflict_do_nothing())
        select = sa.select(rollup_arms.c.moments).where(where)
        moments = np.frombuffer(conn.execute(select.with_for_update() if self._pg
                                             else select).scalar_one(),
                                dtype=np.float64).copy()
        new_state, new_hists, change = _merged(self._read_units(conn, key, batch.units),
                                               batch, key[1])
        moments += change
        conn.execute(sa.update(rollup_arms).where(where).values(moments=moments.tobytes()))
        self._write_units(conn, key, batch.units, new_state, new_hists)

    def guard_change(self, conn: Connection, feature: str, segment: segments.Segment,
                     release: str, arm: str, until: float) -> Array:
        """What the first `GUARD_SECONDS` of the segment (not rolled up) add to the arm's
        moments: their requests read from the event log, merged with their units' rows."""
        since = segment.since
        columns = self._guard_columns(conn, feature, since, release, arm, until)
        change = np.zeros(ArmLayout.SIZE)
        if columns:
            whole = {feature: [segment._replace(merged=True)]}
            for key, batch in _group_columns(columns, whole).items():
                change += _merged(self._read_units(conn, key, batch.units), batch, since)[2]
        return change

    def _read_units(self, conn: Connection, key: ArmKey, units: list[str],
                    ) -> tuple[Array, list[Sparse]]:
        state = np.zeros((len(units), STATE))
        state[:, LAST] = -np.inf
        blobs: list[list[bytes]] = [[b""] * len(units), [b""] * len(units)]
        slots = {u: i for i, u in enumerate(units)}
        found: list[Any] = []
        if self._pg:  # one array parameter
            found = list(conn.exec_driver_sql(self._select + "= ANY(%s)", (*key, units)))
        else:
            for start in range(0, len(units), 5000):
                chunk = units[start:start + 5000]
                sql = self._select + f"IN ({', '.join('?' * len(chunk))})"
                found += conn.exec_driver_sql(sql, (*key, *chunk)).all()
        for unit, raw, latency, ttft in found:
            i = slots[unit]
            state[i] = np.frombuffer(raw, dtype=np.float64)
            blobs[0][i], blobs[1][i] = latency, ttft
        return state, [Sparse.from_blobs(b) for b in blobs]

    def _write_units(self, conn: Connection, key: ArmKey, units: list[str], state: Array,
                     hists: list[Sparse]) -> None:
        latency, ttft = (h.blobs(len(units)) for h in hists)
        order = self._order
        rows: list[Any] = []
        for i, u in enumerate(units):
            values = (*key, u, state[i].tobytes(), latency[i], ttft[i])
            row = [None] * len(order)
            for position, value in zip(order, values, strict=True):
                row[position] = value
            rows.append(tuple(row) if self._named is None
                        else dict(zip(self._named, row, strict=True)))
        conn.exec_driver_sql(self._upsert, rows)


def _merged(old: tuple[Array, list[Sparse]], batch: _Batch, since: float,
            ) -> tuple[Array, list[Sparse], Array]:
    """The units' new state and histograms, and the change of the arm's moments."""
    state, hists = old
    new_state = state.copy()
    new_state[:, :LAST] += batch.state[:, :LAST]
    new_state[:, LAST] = np.maximum(state[:, LAST], batch.state[:, LAST])
    new_hists = [o.plus(d) for o, d in zip(hists, batch.hists, strict=True)]
    settled = since + SETTLE_SECONDS
    change = arm_moments(new_state, new_hists, settled) - arm_moments(state, hists, settled)
    return new_state, new_hists, change


def _arm_where(table: sa.Table, key: ArmKey) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.and_(c.feature == key[0], c.since == key[1], c.release_id == key[2],
                   c.arm == key[3])


def merge_guard(store: Store, feature: str, since: float, events: EventLog | None = None,
                ) -> bool:
    """`Rollup.merge_guard` in a transaction of its own; `events`: the event log, when not in
    `store` (ClickHouse)."""
    with store.transaction() as conn:
        return Rollup(store.engine.dialect, events).merge_guard(conn, feature, since)


# -- reading: one look ----------------------------------------------------------------------

def read_arm(conn: Connection, feature: str, since: float, release: str, arm: str) -> Array:
    """The arm's moments vector (zeros when the roll-up saw nothing of it)."""
    raw = conn.scalar(sa.select(rollup_arms.c.moments)
                      .where(_arm_where(rollup_arms, (feature, since, release, arm))))
    return np.zeros(ArmLayout.SIZE) if raw is None else np.frombuffer(raw, dtype=np.float64)


def pair_moments(moments: Array, source: str) -> UnitMoments:
    i = [p[0] for p in PAIRS].index(source)
    return UnitMoments(*(float(v) for v in moments[ArmLayout.pair(i)]))


def exceedance_moments(moments: Array, source: str, threshold: float, *,
                       above: bool) -> UnitMoments:
    """Per-unit (requests beyond `threshold`, requests) moments, interpolated inside the
    threshold's bucket. `above`: beyond means > threshold (bad = increase), else <."""
    i = _quantile_index(source)
    k_units, sn, snn = (float(v) for v in moments[ArmLayout.qscalars(i)])
    hist = moments[ArmLayout.qarray(i, 0)]
    e1 = np.r_[np.cumsum(hist[::-1])[::-1], 0.0]
    e2 = np.r_[moments[ArmLayout.qarray(i, 1)], 0.0]
    en = np.r_[moments[ArmLayout.qarray(i, 2)], 0.0]
    if not math.isfinite(threshold):
        return UnitMoments(k_units, 0.0, sn, 0.0, snn, 0.0)
    k = int(bucket_of(np.asarray([threshold]))[0])
    pos = bucket_position(threshold, k)

    def at(m: Array) -> float:
        return float((1 - pos) * m[k] + pos * m[k + 1])

    s1, s2, sx = at(e1), at(e2), at(en)
    if not above:  # below t: n_u - e_u
        s2 = snn - 2 * sx + s2
        sx = snn - sx
        s1 = sn - s1
    return UnitMoments(k_units, s1, sn, s2, snn, sx)


def load_look(
    store: Store,
    *,
    feature: str,
    releases: Mapping[str, str],
    guardrails: Sequence[Guardrail],
    since: float,
    until: float,
    unit: str = "user",
    events: EventLog | None = None,
) -> LookTotals | None:
    """What `rampway.rollout.totals.load_totals` returns (`settle` = `SETTLE_SECONDS`), from
    the roll-up of the segment that starts at `since` (its request guardrails: two rows read)
    — or None when the roll-up does not cover the window `[since, until)` by `unit`s (users
    or sessions): see `_covers`. Feedback guardrails are read from the event log as
    `load_totals` reads them.

    One snapshot (REPEATABLE READ on PostgreSQL, SQLite's read transaction): the arms' rows,
    the guard's units and the checks of `_covers` must agree with each other.

    `events`: the event log when it is not in `store` (ClickHouse; its roll-up is here). Its
    batch is written there a moment before its roll-up commits here, so a look that finds the
    newest requests not rolled up yet looks once more `RETRY_S` later before giving up; the
    feedback guardrails are read there too (`EventLog.feedback`)."""
    look = _load_look(store, feature, releases, guardrails, since, until, unit, events)
    if look is not None or events is None:
        return look
    with store.reading() as conn:  # a batch between its insert there and its roll-up here?
        # (not one lost for good: a stale reservation or a gap never gets applied, and each
        # look of the step would wait for nothing)
        in_flight = (batches.pending(conn, feature, since)
                     and not batches.stale(conn, feature, since, time.time()))
    if not in_flight:
        return None
    time.sleep(RETRY_S)
    return _load_look(store, feature, releases, guardrails, since, until, unit, events)


#: How long a look waits for the roll-up of a batch just written to the event log elsewhere.
RETRY_S = 0.5


def _load_look(store: Store, feature: str, releases: Mapping[str, str],
               guardrails: Sequence[Guardrail], since: float, until: float, unit: str,
               events: EventLog | None) -> LookTotals | None:
    from rampway.rollout.totals import feedback_totals

    rollup = Rollup(store.engine.dialect, events)
    # Events elsewhere: their newest requests are read before the roll-up's snapshot, so a
    # batch among them is either rolled up in that snapshot or still pending there (reserved
    # before its insert) — never applied a moment too late to be seen, and taken for lost.
    probe = (None if events is None
             else events.newest(feature, since + GUARD_SECONDS, until, unit, SPOT_CHECK))
    with store.reading() as conn:
        if rollup._pg:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        segment = segments.get(conn, feature, since)
        if segment is None or segment.unit != unit:
            return None
        arms = {arm: read_arm(conn, feature, since, releases[arm], arm) for arm in ARMS}
        if not _covers(conn, feature, segment, until, releases, probe):
            return None
        if not segment.merged:
            arms = {arm: moments + rollup.guard_change(conn, feature, segment, releases[arm],
                                                       arm, until)
                    for arm, moments in arms.items()}
        feedback = (feedback_totals(conn, feature, releases, guardrails, since, until, unit)
                    if events is None
                    else events.feedback(feature, releases, guardrails, since, until, unit))
    return _look_totals(arms, guardrails, feedback)


#: How many of the window's newest requests a look checks were rolled up (`_covers`).
SPOT_CHECK = 8


def _covers(conn: Connection, feature: str, segment: segments.Segment, until: float,
            releases: Mapping[str, str],
            probe: tuple[bool, list[Any]] | None = None) -> bool:
    """Whether the roll-up holds the window `[since, until)` as the event log does: nothing of
    the feature at or after `until` (the roll-up has no end), and the window's newest requests
    rolled up — each one's unit row has seen a request at least that recent. The spot check
    catches events written around the roll-up (a custom sink, a gateway of an older version,
    rows inserted by hand): a look then reads the event log. Both reads walk the (feature, ts)
    index from one end. With the events elsewhere, those two reads were made there (`probe`:
    `EventLog.newest`), and a batch pending since `batches.STALE_AFTER_S` (in the event log,
    maybe not rolled up) leaves the window not covered either."""
    if probe is not None:
        if batches.stale(conn, feature, segment.since, time.time()):
            return False
        after, newest = probe
    else:
        after, newest = _newest(conn, feature, segment.since + GUARD_SECONDS, until,
                                segment.unit)
    if after:
        return False
    pairs = {(arm, releases[arm]) for arm in ARMS}
    units = rollup_units.c
    for arm, release, name, ts in newest:
        if (arm, release) not in pairs:
            continue
        raw = conn.scalar(sa.select(units.state).where(
            units.feature == feature, units.since == segment.since,
            units.release_id == release, units.arm == arm, units.unit == name))
        if raw is None or np.frombuffer(raw, dtype=np.float64)[LAST] < ts:
            return False
    return True


def _newest(conn: Connection, feature: str, since: float, until: float, unit: str,
            ) -> tuple[bool, list[Any]]:
    """`EventLog.newest` on the event log in this database."""
    ev = request_events.c
    after = conn.scalar(sa.select(ev.ts).where(ev.feature == feature, ev.ts >= until)
                        .limit(1)) is not None
    name = sa.func.coalesce(unit_column(request_events, unit), ev.id)
    newest = conn.execute(
        sa.select(ev.arm, ev.release_id, name, ev.ts)
        .where(ev.feature == feature, ev.ts >= since, ev.ts < until)
        .order_by(ev.ts.desc()).limit(SPOT_CHECK)).all()
    return after, list(newest)


def _look_totals(arms: Mapping[str, Array], guardrails: Sequence[Guardrail],
                 feedback: Mapping[int, tuple[Totals, Totals]]) -> LookTotals:
    """The look from the arms' moments (the feedback guardrails' totals read already)."""
    from rampway.rollout._judge import candidate_threshold  # numpy/scipy: not for the sink
    from rampway.rollout.totals import LookTotals

    totals: list[tuple[Totals, Totals]] = []
    quantiles: list[tuple[float, float] | None] = []
    for i, g in enumerate(guardrails):
        definition = metric_def(g.metric)
        if i in feedback:
            totals.append(feedback[i])
            quantiles.append(None)
        elif definition.kind != "quantile":
            totals.append((pair_moments(arms["baseline"], definition.source),
                           pair_moments(arms["candidate"], definition.source)))
            quantiles.append(None)
        else:
            hist = {arm: arms[arm][ArmLayout.qarray(_quantile_index(definition.source), 0)]
                    for arm in ARMS}
            base = histogram_quantile(hist["baseline"], definition.q)
            above = g.bad == "increase"
            totals.append((
                exceedance_moments(arms["baseline"], definition.source, base, above=above),
                exceedance_moments(arms["candidate"], definition.source,
                                   candidate_threshold(base, g), above=above)))
            quantiles.append((base, histogram_quantile(hist["candidate"], definition.q)))
    error = [p[0] for p in PAIRS].index("error")
    return LookTotals(
        tuple(totals), tuple(quantiles),
        {arm: round(float(arms[arm][ArmLayout.pair(error)][2])) for arm in ARMS},
        {arm: round(float(arms[arm][ArmLayout.SETTLED])) for arm in ARMS})


def _quantile_index(source: str) -> int:
    return [q[0] for q in QUANTILES].index(source)


__all__ = [
    "BUCKETS",
    "ArmLayout",
    "EventLog",
    "Rollup",
    "arm_moments",
    "exceedance_moments",
    "histogram_quantile",
    "load_look",
    "merge_guard",
    "open_segment",
    "pair_moments",
    "read_arm",
]
