"""The experiments' roll-up: each exposed unit's aggregates, kept up to date by the event sink,
so an analysis reads one row per unit instead of the window's requests (issue #18: "experiment
analysis over 10M request events ≤ 5 s").

The judge's roll-up (`rampway.rollout.rollup`) is the model, its ideas reused where they fit:

* a segment per experiment (`experiment_rollup_segments`), opened by `repo.start` in the
  start's transaction, closed (`until`) in the stop's, and replaced when the feature's next
  experiment starts; the unit rows of replaced segments are deleted in bounded batches by
  `prune_finished` (event retention calls it, like the judge's);
* the sink rolls a batch up in the batch's own transaction (`SqlEventSink(rollup=True)`), for
  the features with a segment only: one small query per batch finds none for the others, and
  this module imports no numpy;
* the segment's first seconds (before `cutoff`) are left out by the sinks and merged once from
  the event log (`merge`, `FOR UPDATE` against the sinks' `FOR SHARE`), so no request a writer
  wrote before it saw the segment is lost; after the merge the sinks roll up late requests of
  those seconds themselves. The same merge is the backfill of an experiment whose segment was
  opened after it started (one running before this roll-up existed: `prepare` opens one with
  `cutoff` = now + `GUARD_SECONDS`): one `INSERT … SELECT … GROUP BY` over the window so far.

What is kept differs: the analysis needs per-unit columns, not the judge's per-arm moments, and
every column is a sum, a count, a minimum or a maximum — so each batch upserts its units' own
aggregates and the database adds them to the stored row (`ON CONFLICT DO UPDATE SET requests =
requests + excluded.requests`, `first_ts = least(…)`): the same telescoping as the judge's
moments, without reading the rows first. Per (experiment, unit), as
`rampway.experiments.extract`'s exposure query computes them over the window: the lowest and
highest arm (their index in the record: they differ for a multiple exposure), first and last
request, requests, errors (status != ok), refusals, successful requests, latency sum of the
successful ones, cost sum, output tokens of the successful ones.

Quantile metrics (latency_p95) come from two latency histograms kept beside the unit rows, in
the same statements' way (counts added on conflict): per (experiment, arm) the successful
requests' latencies in the fine 1% buckets of `rampway._latency_buckets`, and per (experiment,
unit, arm) in coarse buckets (`COARSE` fine ones): `rampway.experiments.rollup_quantiles` reads
them and says why these two.

Every metric is served from it: the request columns from the unit rows, feedback joined to
those units at analysis time (`rampway.experiments.rollup_feedback`), quantiles off the latency
histograms (`rampway.experiments.rollup_quantiles`). What it cannot give, and the analysis
then reads the event log (`analysis.analyze` names the path it took in the report's
`source`): a segment not merged yet, and a roll-up holding requests after the analysis time
(an analysis "as it stood" at an earlier moment, or a stop that raced a batch). Events
written by other means than a `SqlEventSink` (a custom sink, rows inserted by hand) are not
rolled up: the analysis checks that the window's newest requests were (`SPOT_CHECK`), as the
judge's look does.

    with store.transaction() as conn:
        open_segment(conn, record.id, record.feature, record.started_at,
                     record.started_at + GUARD_SECONDS, record.unit, record.arms)
    merge(store, record.id)       # once the first seconds are over (`prepare` does both)
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from rampway._latency_buckets import BUCKETS, LOG_RATIO, LOW_MS, TOP_MS, bucket_of_ms
from rampway.errors import ConflictError
from rampway.events.tables import request_events, unit_column
from rampway.experiments.tables import (
    experiment_rollup_latency,
    experiment_rollup_segments,
    experiment_rollup_unit_latency,
    experiment_rollup_units,
)
from rampway.store import Store

#: Requests of a segment's first seconds are left to `merge` (the judge's
#: `rampway.rollout.rollup.GUARD_SECONDS`, not imported: that module loads numpy).
GUARD_SECONDS = 5.0
#: How long after `cutoff` the first seconds are merged: by then no writer can still hold a
#: batch it built before it saw the segment (the controller merges the judge's 30 s into a step).
MERGE_AFTER_SECONDS = 25.0
#: Per prune transaction: unit rows deleted at most.
PRUNE_BATCH = 20_000
#: How many of the window's newest requests an analysis checks were rolled up.
SPOT_CHECK = 8

#: The per-unit columns, in `rampway.experiments.extract.REQUEST_COLUMNS`' order after the arms.
SUMS = ("requests", "errors", "refusals", "ok_requests", "latency_ms_sum", "cost_usd_sum",
        "output_tokens_sum")
#: Fine buckets per coarse bucket of a unit's latency histogram: 23 (each ~26% wide) keeps the
#: quantile's standard error within ~3% of the exact one (`rampway.experiments.rollup_quantiles`).
COARSE = 23
#: The arm histogram's rows are split over this many slots, one chosen per batch: two sinks
#: adding to the same buckets would otherwise wait for each other's commit at every batch.
SLOTS = 8
#: Every table holding an experiment's rolled-up rows (`open_segment` and `prune_finished`).
_ROW_TABLES = (experiment_rollup_units, experiment_rollup_unit_latency,
               experiment_rollup_latency)


class Segment(NamedTuple):
    experiment_id: int
    feature: str
    since: float  # the experiment's start: its window's start
    cutoff: float  # the sinks roll up requests from here on until `merged`
    until: float | None  # the stop, once stopped: the window's end
    merged: bool  # [since, cutoff) is in the roll-up, and the sinks roll up from `since`
    unit: str  # "user" (`unit_hash`) or "session" (`session_hash`)
    arms: tuple[tuple[str, str], ...]  # (arm, release id), in the record's order


Segments = dict[str, list[Segment]]  # feature -> its segments


_SEGMENT_COLUMNS = tuple(experiment_rollup_segments.c[name] for name in Segment._fields)


def _segment(row: Sequence[Any]) -> Segment:
    eid, feature, since, cutoff, until, merged, unit, arms = row
    return Segment(int(eid), feature, float(since), float(cutoff),
                   None if until is None else float(until), bool(merged), unit,
                   tuple((str(a), str(r)) for a, r in arms))


def find(conn: Connection, features: Iterable[str], *, lock: bool = False) -> Segments:
    """The segments of `features`. `lock` (PostgreSQL): FOR SHARE, so that `merge` (FOR
    UPDATE) waits for the batches that read a segment unmerged."""
    seg = experiment_rollup_segments.c
    query = sa.select(*_SEGMENT_COLUMNS).where(seg.feature.in_(sorted(set(features))))
    found: Segments = {}
    for row in conn.execute(query.with_for_update(read=True) if lock else query):
        segment = _segment(row)
        found.setdefault(segment.feature, []).append(segment)
    return found


def get(conn: Connection, experiment_id: int, *, lock: bool = False) -> Segment | None:
    """The experiment's segment, if any; `lock`: FOR UPDATE (PostgreSQL)."""
    query = sa.select(*_SEGMENT_COLUMNS).where(
        experiment_rollup_segments.c.experiment_id == experiment_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else _segment(row)


def open_segment(conn: Connection, experiment_id: int, feature: str, since: float,
                 cutoff: float, unit: str, arms: Sequence[Any]) -> None:
    """Start rolling up the experiment's requests (those at or after `cutoff` at once, the
    earlier ones at `merge`), and stop rolling up the feature's earlier experiments (their
    rows go at `prune_finished`). `arms`: objects with `name` and `release_id`."""
    seg = experiment_rollup_segments.c
    conn.execute(experiment_rollup_segments.delete().where(seg.feature == feature))
    for table in _ROW_TABLES:  # rows of an earlier segment of this experiment: counted twice
        conn.execute(table.delete().where(table.c.experiment_id == experiment_id))
    conn.execute(sa.insert(experiment_rollup_segments).values(
        experiment_id=experiment_id, feature=feature, since=since, cutoff=cutoff, unit=unit,
        arms=[[a.name, a.release_id] for a in arms]))


def close(conn: Connection, experiment_id: int, until: float) -> None:
    """The experiment stopped at `until`: the sinks roll up nothing later (a batch that read
    the segment before this committed may still have: `covers` then says so)."""
    conn.execute(experiment_rollup_segments.update()
                 .where(experiment_rollup_segments.c.experiment_id == experiment_id)
                 .values(until=until))


def window(segment: Segment, since: float, before: float | None,
           ) -> sa.ColumnElement[bool]:
    """The segment's requests from `since` (and before `before`, when given) up to its stop:
    the feature's, with a unit, served by one of its arms' own release."""
    ev = request_events.c
    where = [ev.feature == segment.feature, ev.ts >= since,
             unit_column(request_events, segment.unit).is_not(None),
             sa.or_(*(sa.and_(ev.arm == a, ev.release_id == r) for a, r in segment.arms))]
    if before is not None:
        where.append(ev.ts < before)
    if segment.until is not None:
        where.append(ev.ts <= segment.until)
    return sa.and_(*where)


def _upsert(dialect: Dialect, values: sa.Selectable | None = None,
            table: sa.Table = experiment_rollup_units) -> Any:
    """INSERT of rows that adds to a stored row (from `values`, a SELECT of the table's
    columns, or bound parameters): unit rows, or a latency histogram's counts."""
    from sqlalchemy.dialects import postgresql, sqlite

    pg = dialect.name == "postgresql"
    t = table
    insert: Any = (postgresql.insert if pg else sqlite.insert)(t)
    if values is not None:
        insert = insert.from_select([c.name for c in t.c], values)
    new = insert.excluded
    if t is not experiment_rollup_units:
        return insert.on_conflict_do_update(
            index_elements=[c.name for c in t.primary_key],
            set_={"count": t.c["count"] + new["count"]})
    low = sa.func.least if pg else sa.func.min  # SQLite's two-argument min() is scalar
    high = sa.func.greatest if pg else sa.func.max
    update: dict[str, Any] = {
        "arm_lo": low(t.c.arm_lo, new.arm_lo), "arm_hi": high(t.c.arm_hi, new.arm_hi),
        "first_ts": low(t.c.first_ts, new.first_ts), "last_ts": high(t.c.last_ts, new.last_ts),
    }
    update |= {name: t.c[name] + new[name] for name in SUMS}
    return insert.on_conflict_do_update(index_elements=["experiment_id", "unit"], set_=update)


def merge(store: Store, experiment_id: int) -> bool:
    """Roll the segment's requests before its `cutoff` into the roll-up from the event log,
    once (True if it did now): one INSERT … SELECT … GROUP BY. Call it `MERGE_AFTER_SECONDS`
    after the cutoff (`prepare` does), when no writer still holds a batch it built before it
    saw the segment; the batches that saw it unmerged hold it FOR SHARE, which this waits for."""
    with store.transaction() as conn:
        pg = conn.dialect.name == "postgresql"
        segment = get(conn, experiment_id, lock=pg)
        if segment is None or segment.merged:
            return False
        ev = request_events.c
        unit = unit_column(request_events, segment.unit)
        ok = ev.status == "ok"
        arm = sa.case(*((sa.and_(ev.arm == a, ev.release_id == r), i)
                        for i, (a, r) in enumerate(segment.arms)), else_=-1)

        def flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.case((condition, 1), else_=0)

        rows = (sa.select(
            sa.literal(experiment_id, sa.Integer), unit, sa.func.min(arm), sa.func.max(arm),
            sa.func.min(ev.ts), sa.func.max(ev.ts), sa.func.count(),
            sa.func.sum(flag(ev.status != "ok")), sa.func.sum(flag(ev.refusal)),
            sa.func.sum(flag(ok)), sa.func.sum(sa.case((ok, ev.latency_ms), else_=0.0)),
            sa.func.sum(ev.cost_usd), sa.func.sum(sa.case((ok, ev.output_tokens), else_=0)))
            .where(window(segment, segment.since, segment.cutoff)).group_by(unit))
        conn.execute(_upsert(conn.dialect, rows))
        _merge_latency(conn, segment, unit, arm)
        conn.execute(experiment_rollup_segments.update()
                     .where(experiment_rollup_segments.c.experiment_id == experiment_id)
                     .values(merged=True))
    return True


def _merge_latency(conn: Connection, segment: Segment, unit: sa.ColumnElement[Any],
                   arm: sa.ColumnElement[int]) -> None:
    """`merge`'s latency histograms: the bucket computed by the database (`_sql_bucket`),
    the arm's rows in slot 0."""
    ev = request_events.c
    where = sa.and_(window(segment, segment.since, segment.cutoff), ev.status == "ok")
    fine = _sql_bucket(conn, ev.latency_ms)
    eid = sa.literal(segment.experiment_id, sa.Integer)
    per_unit = sa.select(unit.label("unit"), arm.label("arm"), fine.label("fine")) \
        .where(where).subquery("latencies")
    coarse = per_unit.c.fine // COARSE
    conn.execute(_upsert(conn.dialect, sa.select(
        eid, per_unit.c.unit, per_unit.c.arm, coarse, sa.func.count())
        .group_by(per_unit.c.unit, per_unit.c.arm, coarse), experiment_rollup_unit_latency))
    conn.execute(_upsert(conn.dialect, sa.select(
        eid, arm, sa.literal(0, sa.SmallInteger), fine, sa.func.count())
        .where(where).group_by(arm, fine), experiment_rollup_latency))


def _sql_bucket(conn: Connection, latency: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    """`bucket_of_ms` in SQL: PostgreSQL's ln(); SQLite may be built without math functions,
    so there the Python function is registered on the connection (deterministic, for this
    statement's GROUP BY)."""
    if conn.dialect.name != "postgresql":
        conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "rampway_latency_bucket", 1, _bucket_or_top, deterministic=True)
        return sa.func.rampway_latency_bucket(latency, type_=sa.Integer)
    # LEAST ranks NaN above every number, as `bucket_of_ms` does; a float until then (NaN
    # does not cast to an integer)
    k = sa.func.floor(sa.func.ln(latency / LOW_MS) / LOG_RATIO) + 1
    return sa.case((latency < LOW_MS, 0), (~(latency < TOP_MS), BUCKETS - 1),  # NaN too
                   else_=sa.cast(sa.func.least(k, BUCKETS - 1), sa.Integer))


def _bucket_or_top(ms: float | None) -> int:
    return BUCKETS - 1 if ms is None else bucket_of_ms(ms)  # SQLite gives NaN as NULL


def prepare(store: Store, record: Any, wall: float | None = None) -> Segment | None:
    """The experiment's segment, made ready for an analysis where it can be: opened if it is
    running without one (started before the roll-up existed; `cutoff` = `wall` +
    `GUARD_SECONDS`), merged once `MERGE_AFTER_SECONDS` past its cutoff. `record`: an
    `ExperimentRecord`; `wall`: the clock (default `time.time()`)."""
    wall = time.time() if wall is None else wall
    with store.reading() as conn:
        segment = get(conn, record.id)
    if segment is None:
        if record.status != "running":
            return None
        try:
            with store.transaction() as conn:
                if get(conn, record.id) is None:
                    open_segment(conn, record.id, record.feature, record.started_at,
                                 max(record.started_at, wall) + GUARD_SECONDS, record.unit,
                                 record.arms)
        except ConflictError:  # another analysis opened it meanwhile: that one stands
            pass
    elif not segment.merged and wall >= segment.cutoff + MERGE_AFTER_SECONDS:
        merge(store, record.id)
    with store.reading() as conn:
        return get(conn, record.id)


class Rollup:
    """Keeps `experiment_rollup_units` in step with the batches the sink writes; call `apply`
    inside the batch's transaction (`SqlEventSink(store, rollup=True)` does). Plain Python: a
    batch's requests are summed per unit in a dict (one pass), then upserted in unit order (two
    writers updating the same units lock them in one order: no deadlock).

    The upserts are SQL compiled once and given plain tuples, as the sink writes events: on
    PostgreSQL one statement per table and batch, its rows one JSON parameter
    (`json_populate_recordset`: an executemany of per-unit upserts through SQLAlchemy, or
    arrays per column dumped by psycopg, cost more than the rest of the batch), elsewhere a
    driver-level executemany. The tables are written in one order (units, the units' latency
    histograms, the arms'), each in key order."""

    def __init__(self, dialect: Dialect) -> None:
        self._pg = dialect.name == "postgresql"
        self._statements = [_Statement(dialect, t) for t in _WRITTEN]

    def apply(self, conn: Connection, events: Sequence[Any],
              found: Segments | None = None) -> None:
        """Roll the batch's requests into their experiments' rows; `found`: the segments of
        the batch's features, when the caller has read them (`find`, FOR SHARE on
        PostgreSQL)."""
        if found is None:
            found = find(conn, {e.feature for e in events}, lock=self._pg)
        if not found:
            return
        tables: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
        slot = random.randrange(SLOTS)  # noqa: S311 (spreads rows, no secret)
        for feature, segments in found.items():
            mine = [e for e in events if e.feature == feature]
            for segment in segments:
                for rows, made in zip(tables, _rows(segment, mine, slot), strict=True):
                    rows += made
        for statement, rows in zip(self._statements, tables, strict=True):
            if rows:
                rows.sort(key=statement.key)
                statement.run(conn, rows)


#: The tables `Rollup.apply` writes, in that order (`_rows` makes their rows).
_WRITTEN = (experiment_rollup_units, experiment_rollup_unit_latency, experiment_rollup_latency)


class _Statement:
    """One table's upsert, compiled once: `run` adds a batch's rows (tuples in the table's
    column order)."""

    def __init__(self, dialect: Dialect, table: sa.Table) -> None:
        self._pg = dialect.name == "postgresql"
        self._names = [c.name for c in table.c]
        keys = [self._names.index(c.name) for c in table.primary_key]
        self.key = lambda row: tuple(row[i] for i in keys)
        if self._pg:
            name = table.name
            if table is experiment_rollup_units:
                update = [f"{c} = {f}({name}.{c}, EXCLUDED.{c})" for c, f in (
                    ("arm_lo", "LEAST"), ("arm_hi", "GREATEST"), ("first_ts", "LEAST"),
                    ("last_ts", "GREATEST"))]
                update += [f"{c} = {name}.{c} + EXCLUDED.{c}" for c in SUMS]
            else:
                update = [f"count = {name}.count + EXCLUDED.count"]
            columns = ", ".join(self._names)
            conflict = ", ".join(c.name for c in table.primary_key)
            # names only: the rows are one bound parameter
            self._sql = (
                f"INSERT INTO {name} ({columns}) SELECT {columns} "  # noqa: S608
                f"FROM json_populate_recordset(NULL::{name}, %s::json) "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(update)}")
            self._order: list[int] = []
        else:
            compiled = _upsert(dialect, table=table).compile(dialect=dialect)
            self._sql = str(compiled)
            self._order = [self._names.index(n) for n in compiled.positiontup or ()]

    def run(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if self._pg:
            names = self._names
            text = json.dumps([dict(zip(names, r, strict=True)) for r in rows])
            if "NaN" in text or "Infinity" in text:  # not JSON: as PostgreSQL's float8 text
                text = json.dumps([{n: _finite(v) for n, v in zip(names, r, strict=True)}
                                   for r in rows])
            conn.exec_driver_sql(self._sql, (text,))
        else:
            order = self._order
            conn.exec_driver_sql(self._sql, [tuple(r[i] for i in order) for r in rows])


def _finite(value: Any) -> Any:
    """A non-finite float as the text PostgreSQL reads it (JSON has no NaN): a request the
    event log stores with a NaN latency must not fail its batch here."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


Rows = list[tuple[Any, ...]]


def _rows(segment: Segment, events: Sequence[Any], slot: int) -> tuple[Rows, Rows, Rows]:
    """The segment's requests among `events`, summed per unit, then its successful ones'
    latencies counted per (unit, arm, coarse bucket) and per (arm, fine bucket) in `slot`:
    rows in the column order of the `_WRITTEN` tables."""
    start = segment.since if segment.merged else max(segment.since, segment.cutoff)
    end = segment.until
    arms = {arm: i for i, arm in enumerate(segment.arms)}
    by_session = segment.unit == "session"
    units: dict[str, list[Any]] = {}
    coarse: dict[tuple[str, int, int], int] = {}
    fine: dict[tuple[int, int], int] = {}
    for e in events:
        ts = float(e.ts)  # one type per column: psycopg dumps a list as one array type
        if ts < start or (end is not None and ts > end):
            continue
        arm = arms.get((e.arm, e.release_id))
        unit = e.session_hash if by_session else e.unit_hash
        if arm is None or unit is None:
            continue
        ok = e.status == "ok"
        if ok:
            k = bucket_of_ms(float(e.latency_ms))
            key = (unit, arm, k // COARSE)
            coarse[key] = coarse.get(key, 0) + 1
            fine[arm, k] = fine.get((arm, k), 0) + 1
        row = units.get(unit)
        if row is None:
            units[unit] = [arm, arm, ts, ts, 1, int(not ok), int(bool(e.refusal)),
                           int(ok), float(e.latency_ms) if ok else 0.0, float(e.cost_usd),
                           int(e.output_tokens) if ok else 0]
            continue
        row[0], row[1] = min(row[0], arm), max(row[1], arm)
        row[2], row[3] = min(row[2], ts), max(row[3], ts)
        row[4] += 1
        row[5] += int(not ok)
        row[6] += int(bool(e.refusal))
        row[7] += int(ok)
        if ok:
            row[8] += float(e.latency_ms)
            row[10] += int(e.output_tokens)
        row[9] += float(e.cost_usd)
    eid = segment.experiment_id
    return ([(eid, unit, *row) for unit, row in units.items()],
            [(eid, *key, n) for key, n in coarse.items()],
            [(eid, arm, slot, k, n) for (arm, k), n in fine.items()])


def covers(conn: Connection, segment: Segment, until: float) -> str | None:
    """Why the roll-up does not hold the window `[since, until]` as the event log does, or None
    when it does — but for requests after `until` it may hold, which only its rows show (the
    reader checks their `last_ts`). Not merged: its first seconds are missing. The window's
    newest requests not rolled up (each one's unit row has not seen one that recent): events
    written around the roll-up (a custom sink, a gateway of an older version, rows inserted
    by hand)."""
    if not segment.merged:
        return "the roll-up's first seconds are not merged yet"
    ev = request_events.c
    unit = unit_column(request_events, segment.unit)
    newest = conn.execute(
        sa.select(unit, ev.ts).where(window(segment, segment.since, None), ev.ts <= until)
        .order_by(ev.ts.desc()).limit(SPOT_CHECK)).all()
    units = experiment_rollup_units.c
    for name, ts in newest:
        last = conn.scalar(sa.select(units.last_ts).where(
            units.experiment_id == segment.experiment_id, units.unit == name))
        if last is None or last < ts:
            return "requests of the window were not rolled up (written by another sink)"
    return None


def prune_finished(
    store: Store, *, batch: int = PRUNE_BATCH, deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, bool]:
    """Delete the rows (units', latency histograms') of experiments whose segment is gone
    (the feature's next experiment started), those of up to `batch` units per transaction;
    (rows deleted, whether none are left). `deadline`: a `clock()` value to stop at between
    batches."""
    seg = experiment_rollup_segments.c
    total = 0
    for table in _ROW_TABLES:
        rows = table.c
        gone = ~sa.select(seg.experiment_id).where(
            seg.experiment_id == rows.experiment_id).exists()
        with store.reading() as conn:
            finished = list(conn.scalars(sa.select(rows.experiment_id).where(gone).distinct()))
        # by unit, or (the arms' histogram, a few thousand rows) by arm
        part = rows.unit if "unit" in rows else rows.arm
        for experiment_id in finished:
            where = rows.experiment_id == experiment_id
            chosen = sa.select(part).where(where).distinct().limit(batch)
            while True:
                with store.transaction() as conn:
                    deleted = int(conn.execute(table.delete().where(
                        where, part.in_(chosen.scalar_subquery()))).rowcount)
                total += deleted
                # a unit has one row in the units' table, several in the others
                if deleted == 0 or (table is experiment_rollup_units and deleted < batch):
                    break
                if deadline is not None and clock() >= deadline:
                    return total, False
    return total, True


__all__ = [
    "COARSE",
    "GUARD_SECONDS",
    "MERGE_AFTER_SECONDS",
    "Rollup",
    "Segment",
    "Segments",
    "close",
    "covers",
    "find",
    "get",
    "merge",
    "open_segment",
    "prepare",
    "prune_finished",
    "window",
]
