"""Per-unit aggregates of an experiment, read from the event log: the I/O in front of the analysis.

An experiment's traffic is the feature's request events of the window `[since, until]` that
the gateway labelled with one of the experiment's arms *and* served by that arm's release (a
row with the arm's name but another release is not this experiment's). Only rows with a unit
count: assignment is per unit, and so is the analysis. The unit is the experiment's (`unit=`):
the user (`unit_hash`, the default) or the session (`session_hash`, `unit: session`), so a
session experiment counts, compares and clusters sessions — one user's two sessions are two
units, as assignment made them. Below, "unit_hash" stands for that column.

One grouped query does the work in the database and returns one row per unit:

    exposure   per unit_hash: its arm (min and max of the arm label: they differ for a unit
               seen in two arms, a "multiple exposure", which is excluded and counted), its
               exposure time (first request), last request, requests, errors (status != ok),
               refusals, successful requests, and the sums of latency (successful requests),
               cost and output tokens (successful requests)
    feedback   per unit and feedback name, the events at or after the unit's exposure and up to
               `until`: count, sum of values, and whether any had a value > 0. A feedback event
               belongs to its own unit (`unit_hash`, or `session_hash` for a session
               experiment), or else to the unit of the request it names; one tagged with
               another feature is not this experiment's.

With feedback metrics the exposure rows are first copied into a temporary table (indexed by
unit, analysed on PostgreSQL) and the feedback is joined to that. PostgreSQL cannot estimate
the window's rows: feature, arm and release are correlated, it multiplies their selectivities
and expects 1 row where there are 614 (the dashboard bench: an experiment beside a million
events of another feature; extended statistics do not help, a small feature's combinations
miss their MCV list). Planned for 1 exposure row, the feedback join crossed every unit with
every feedback event and looked up each pair's named request (154,591 index lookups): 1.95 s
instead of 12 ms on the table's true size.

On PostgreSQL the exposure and the feedback's units (feedback naming a request takes that
request's unit: a join with every request) are each made by `CREATE TEMPORARY TABLE … AS`, which
gets a parallel plan (an INSERT … SELECT, or any query reading a temporary table, gets none);
only the final join of the two temporary tables runs without workers. `work_mem` is raised for
the transaction (`WORK_MEM`, SET LOCAL): at the default 4MB the per-unit hash aggregate spilled.

Rows are read as a plain query (PostgreSQL gives a server-side cursor no parallel plan) and
go in chunks (`CHUNK` units) into numpy arrays, so memory is a few floats per unit: on
PostgreSQL as binary COPY (every column 8 bytes, parsed by numpy), elsewhere as rows.

A quantile metric (latency_p95) is computed in the database too (`quantiles=`): per arm, the
quantile of the successful requests' latencies of singly exposed units and its Woodruff
standard error over units (`rampway.stats.woodruff_se`) — a count, the order statistics around
each needed position (`ORDER BY … LIMIT 2 OFFSET k`, from the nearer end) and one per-unit
count of requests at or below the quantile. Nothing per request reaches the client. On
PostgreSQL the same numbers come from a bracket of ranks instead (`rampway.experiments.bracket`:
a sampled histogram places it, the per-unit query counts each unit's requests below it, and
the ~2% of requests inside it are read), with no copy of the latencies; an arm the bracket
misses takes the path above.
`latency=True` instead reads every such latency with its unit: the per-request path the tests
check the database's numbers against.

`load_rollup_units` reads the same request columns from the experiment's roll-up
(`rampway.experiments.rollup`, one row per unit, binary COPY on PostgreSQL) instead of the
window's requests, the feedback columns joined to those units
(`rampway.experiments.rollup_feedback`) and the quantiles off its latency histograms
(`rampway.experiments.rollup_quantiles`: within the histogram's 1%, the standard error within
a few %), or says why it cannot (the analysis then calls `load_units`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from rampway.events.tables import feedback_events, request_events, unit_column
from rampway.experiments import bracket as b
from rampway.experiments import metrics as m
from rampway.experiments.model import Arm
from rampway.experiments.tables import experiment_rollup_units
from rampway.stats._units import share_se, woodruff_se
from rampway.store import Store
from rampway.store._quantile import linear_quantile

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents

Array = NDArray[np.float64]
CHUNK = 20_000
#: PostgreSQL's work_mem for the analysis's transaction (SET LOCAL).
WORK_MEM = "256MB"
_EMPTY = np.zeros(0, dtype=np.float64)
#: The request-side per-unit columns, in the order the query returns them.
REQUEST_COLUMNS = (m.FIRST_TS, m.LAST_TS, m.REQUESTS, m.ERRORS, m.REFUSALS, m.OK_REQUESTS,
                   m.LATENCY_SUM, m.COST_SUM, m.OUTPUT_TOKENS_SUM)


@dataclass(frozen=True, slots=True)
class ArmUnits:
    """One arm's exposed units (multiple exposures removed): aligned per-unit columns.

    `quantiles`: q → (latency q-quantile, its Woodruff standard error over units, units),
    computed by the database when asked for. `latency`/`latency_units`: each successful
    request's latency and the label of its unit, when read per request (`latency=True`).
    """

    arm: str
    release_id: str
    columns: Mapping[str, Array]
    latency: Array = field(default_factory=lambda: _EMPTY)
    latency_units: NDArray[Any] = field(default_factory=lambda: _EMPTY)
    quantiles: Mapping[float, tuple[float, float, int]] = field(default_factory=dict)

    @property
    def units(self) -> int:
        return int(self.columns[m.FIRST_TS].size) if m.FIRST_TS in self.columns else 0

    @property
    def requests(self) -> int:
        return int(self.column(m.REQUESTS).sum())

    def column(self, name: str) -> Array:
        """A per-unit column; zeros for a feedback column never read (no such events)."""
        found = self.columns.get(name)
        return found if found is not None else np.zeros(self.units, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Extraction:
    """What the event log says about an experiment's window, per arm (in the record's order)."""

    arms: tuple[ArmUnits, ...]
    since: float
    until: float
    multiple_exposures: int  # units seen in more than one arm: excluded from every metric
    multiple_exposure_requests: int

    def arm(self, name: str) -> ArmUnits:
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(name)


def _flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.case((condition, 1), else_=0)


def _window(
    feature: str, arms: Sequence[Arm], since: float, until: float, unit: str,
    source: sa.FromClause = request_events,
) -> sa.ColumnElement[bool]:
    """The feature's requests of the window, with a unit, served by an arm's own release
    (rows of `source`: the request table, or a sample of it)."""
    ev = source.c
    return sa.and_(
        ev.feature == feature, ev.ts >= since, ev.ts <= until,
        unit_column(source, unit).is_not(None),
        sa.or_(*(sa.and_(ev.arm == a.name, ev.release_id == a.release_id) for a in arms)),
    )


def _exposure(window: sa.ColumnElement[bool], unit: str,
              extras: Sequence[sa.Label[Any]] = ()) -> sa.Select[Any]:
    ev = request_events.c
    ok = ev.status == "ok"
    unit_col = unit_column(request_events, unit)
    return (
        sa.select(
            unit_col.label("unit_hash"),
            sa.func.min(ev.arm).label("arm"),
            sa.func.max(ev.arm).label("arm_max"),
            sa.func.min(ev.ts).label(m.FIRST_TS),
            sa.func.max(ev.ts).label(m.LAST_TS),
            sa.func.count().label(m.REQUESTS),
            sa.func.sum(_flag(ev.status != "ok")).label(m.ERRORS),
            sa.func.sum(_flag(ev.refusal)).label(m.REFUSALS),
            sa.func.sum(_flag(ok)).label(m.OK_REQUESTS),
            sa.func.sum(sa.case((ok, ev.latency_ms), else_=0.0)).label(m.LATENCY_SUM),
            sa.func.sum(ev.cost_usd).label(m.COST_SUM),
            sa.func.sum(sa.case((ok, ev.output_tokens), else_=0)).label(m.OUTPUT_TOKENS_SUM),
            *extras,
        )
        .where(window)
        .group_by(unit_col)
    )


def _feedback_rows(feature: str, names: Sequence[str], until: float, unit_kind: str,
                   ) -> sa.CompoundSelect[Any]:
    """(unit, name, value, ts) of the feedback events that may count.

    A feedback event's unit is its own, or else its named request's: two inner-joined halves
    of a UNION ALL rather than a left join and a coalesce — PostgreSQL 15 runs a hash left
    join of the feedback (hashed) against every request only serially (1.9 s of 1M
    requests), an inner one in parallel."""
    fb = feedback_events.c
    named = request_events.alias("named_request")
    own = unit_column(feedback_events, unit_kind)
    kept = (fb.name.in_(names), fb.ts <= until,
            sa.or_(fb.feature.is_(None), fb.feature == feature))
    return sa.union_all(
        sa.select(own.label("unit"), fb.name, fb.value, fb.ts).where(own.is_not(None), *kept),
        sa.select(unit_column(named, unit_kind).label("unit"), fb.name, fb.value, fb.ts)
        .select_from(feedback_events.join(named, fb.request_id == named.c.id))
        .where(own.is_(None), *kept),
    )


def _feedback(exposure: sa.FromClause, rows: sa.FromClause, names: Sequence[str],
              ) -> sa.Subquery:
    """Per unit: count, sum and any-positive of each feedback name after exposure, from
    `_feedback_rows` (a subquery, or a table holding them)."""
    e = exposure.c
    f = rows.c
    columns: list[sa.ColumnElement[Any]] = []
    for i, name in enumerate(names):
        is_name = f.name == name
        columns += [
            sa.func.sum(_flag(is_name)).label(f"n{i}"),
            sa.func.sum(sa.case((is_name, f.value), else_=0.0)).label(f"s{i}"),
            sa.func.max(_flag(sa.and_(is_name, f.value > 0))).label(f"c{i}"),
        ]
    return (
        sa.select(e.unit_hash, *columns)
        .select_from(rows.join(exposure, e.unit_hash == f.unit))
        .where(f.ts >= e[m.FIRST_TS])
        .group_by(e.unit_hash)
        .subquery("feedback")
    )


def units_query(
    feature: str, arms: Sequence[Arm], since: float, until: float, feedback: Sequence[str],
    unit: str = "user",
) -> sa.Select[Any]:
    """(arm, arm_max, *REQUEST_COLUMNS, then count/sum/converted per feedback name) per unit,
    as one statement (`load_units` reads the exposure through a temporary table instead when
    there is feedback: the module docstring says why)."""
    exposure = _exposure(_window(feature, arms, since, until, unit), unit).cte("exposure")
    return _per_unit(exposure, feature, until, feedback, unit)


def _per_unit(
    exposure: sa.FromClause, feature: str, until: float, feedback: Sequence[str], unit: str,
    extras: Sequence[str] = (), feedback_rows: sa.FromClause | None = None,
) -> sa.Select[Any]:
    """`units_query`'s rows from `exposure` (the exposure query, as a CTE or a table), then
    the exposure's `extras` columns; `feedback_rows`: a table of `_feedback_rows`."""
    e = exposure.c
    selected: list[sa.ColumnElement[Any]] = [e.arm, e.arm_max, *(e[c] for c in REQUEST_COLUMNS)]
    source: sa.FromClause = exposure
    if feedback:
        if feedback_rows is None:
            feedback_rows = _feedback_rows(feature, feedback, until, unit).subquery(
                "feedback_rows")
        agg = _feedback(exposure, feedback_rows, feedback)
        source = exposure.outerjoin(agg, agg.c.unit_hash == e.unit_hash)
        for i in range(len(feedback)):
            selected += [sa.func.coalesce(agg.c[f"{k}{i}"], 0) for k in "nsc"]
    selected += [e[name] for name in extras]
    return sa.select(*selected).select_from(source)


@contextmanager
def _units_select(
    conn: sa.Connection, feature: str, arms: Sequence[Arm], since: float, until: float,
    feedback: Sequence[str], unit: str, extras: Sequence[sa.Label[Any]] = (),
) -> Iterator[sa.Select[Any]]:
    """The per-unit query to run on `conn`: `units_query` without feedback; with feedback the
    same rows read from the exposure copied into an analysed temporary table (see the module
    docstring), dropped afterwards."""
    exposure = _exposure(_window(feature, arms, since, until, unit), unit, extras)
    names = [c.name for c in extras]
    if not feedback:
        yield _per_unit(exposure.cte("exposure"), feature, until, feedback, unit, names)
        return
    # the query's own column types; counts as BIGINT (PostgreSQL sums integers into one)
    columns = [sa.Column(c.name, sa.BigInteger() if isinstance(c.type, sa.Integer) else c.type,
                         primary_key=c.name == "unit_hash") for c in exposure.selected_columns]
    with _temporary(conn, "exposure", columns, exposure, analyze=True) as table:
        if conn.dialect.name != "postgresql":
            yield _per_unit(table, feature, until, feedback, unit, names)
            return
        # PostgreSQL: a query reading a temporary table gets no parallel plan, and finding
        # the feedback's units (a join with every request) is the costly part: made first,
        # in parallel, into a table of its own (34 s -> 15 + 8 s over 10M requests, load 6-8)
        rows = _feedback_rows(feature, feedback, until, unit)
        kept = [sa.Column(c.name, c.type) for c in rows.selected_columns]
        with _temporary(conn, "feedback", kept, rows, analyze=True) as found:
            yield _per_unit(table, feature, until, feedback, unit, names, found)


@contextmanager
def _temporary(conn: sa.Connection, name: str, columns: Sequence[sa.Column[Any]],
               rows: sa.Select[Any] | sa.CompoundSelect[Any], *, index: Sequence[str] = (),
               analyze: bool = False) -> Iterator[sa.Table]:
    """A temporary table holding `rows` (its columns in `columns`' order), with an index on
    `index` when given, dropped on leaving. `analyze`: gather its statistics on PostgreSQL for
    a join to be planned on its true size (it does not analyse temporary tables by itself)."""
    table = sa.Table(f"rampway_{name}_{uuid.uuid4().hex[:12]}", sa.MetaData(), *columns,
                     prefixes=["TEMPORARY"])
    if conn.dialect.name == "postgresql" and not index:
        # CREATE TABLE AS gets a parallel plan, an INSERT … SELECT does not: 2.8 s instead of
        # 6.1 s for the bench's exposure over 1M requests (load 10)
        select = rows.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table.name} AS {select}",
                             select.params)
    else:
        table.create(conn)
    try:
        if conn.dialect.name != "postgresql" or index:
            conn.execute(table.insert().from_select([c.name for c in columns], rows))
        if index:
            sa.Index(f"ix_{table.name}", *(table.c[n] for n in index)).create(conn)
        if analyze and conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {table.name}")
        yield table
    finally:
        table.drop(conn)


def latency_query(
    feature: str, arms: Sequence[Arm], since: float, until: float, unit: str = "user"
) -> sa.Select[Any]:
    """(arm, unit_hash, latency_ms) of each successful request of a singly exposed unit."""
    window = _window(feature, arms, since, until, unit)
    ev = request_events.c
    unit_col = unit_column(request_events, unit)
    single = (
        sa.select(unit_col.label("unit_hash"))
        .where(window)
        .group_by(unit_col)
        .having(sa.func.min(ev.arm) == sa.func.max(ev.arm))
        .subquery("single")
    )
    return (
        sa.select(ev.arm, unit_col.label("unit_hash"), ev.latency_ms)
        .join(single, single.c.unit_hash == unit_col)
        .where(window, ev.status == "ok")
    )


def _arm_quantile(conn: sa.Connection, latencies: sa.Subquery, q: float,
                  ) -> tuple[float, float, int]:
    """(q-quantile, Woodruff standard error over units, units) of one arm's latencies."""
    n = int(conn.scalar(sa.select(sa.func.count()).select_from(latencies)) or 0)
    if n == 0:
        return math.nan, math.inf, 0
    c = latencies.c
    values = sa.select(c.latency_ms)
    quantile = linear_quantile(conn, values, n, q)
    per_unit = conn.execute(
        sa.select(sa.func.sum(_flag(c.latency_ms <= quantile)), sa.func.count())
        .group_by(c.unit_hash)).all()
    below = np.asarray([r[0] for r in per_unit], dtype=np.float64)
    counts = np.asarray([r[1] for r in per_unit], dtype=np.float64)
    se = woodruff_se(lambda p: linear_quantile(conn, values, n, p), q, share_se(below, counts))
    return quantile, se, len(per_unit)


def _quantiles(
    conn: sa.Connection, feature: str, arms: Sequence[Arm], since: float, until: float,
    qs: Sequence[float], unit: str, only: Sequence[str] | None = None,
) -> dict[str, dict[float, tuple[float, float, int]]]:
    """Per arm (of `only`, default all) and q: (quantile, Woodruff standard error, units).

    The latencies of singly exposed units are copied once into a temporary table indexed by
    (arm, latency): the order statistics and the per-unit count then read it instead of
    re-deriving the single exposures (a GROUP BY over the window joined back) for each of
    their ~5 queries per arm — 1.1 s each over 100k requests on SQLite.
    """
    columns = [sa.Column("arm", sa.String(100)), sa.Column("unit_hash", sa.String(64)),
               sa.Column("latency_ms", sa.Float)]
    rows = latency_query(feature, arms, since, until, unit)
    with _temporary(conn, "latency", columns, rows, index=("arm", "latency_ms")) as tmp:
        out: dict[str, dict[float, tuple[float, float, int]]] = {}
        for a in arms:
            if only is not None and a.name not in only:
                continue
            mine = (sa.select(tmp.c.unit_hash, tmp.c.latency_ms)
                    .where(tmp.c.arm == a.name).subquery("latencies"))
            out[a.name] = {q: _arm_quantile(conn, mine, q) for q in qs}
        return out


def _column_names(feedback: Sequence[str]) -> list[str]:
    names = list(REQUEST_COLUMNS)
    for name in feedback:
        names += [m.feedback_count(name), m.feedback_sum(name), m.converted(name)]
    return names


def load_units(
    store: Store | ClickHouseEvents,
    *,
    feature: str,
    arms: Sequence[Arm],
    since: float,
    until: float,
    feedback: Sequence[str] = (),
    latency: bool = False,
    quantiles: Sequence[float] = (),
    unit: str = "user",
) -> Extraction:
    """Per-arm, per-unit aggregates of the window `[since, until]` (epoch seconds), and the
    latency `quantiles` asked for; units are users or, with `unit="session"`, sessions (see
    the module docstring). With the events in ClickHouse (`rampway.events.clickhouse`) the
    same queries run there."""
    if not isinstance(store, Store):
        return store.load_units(feature=feature, arms=arms, since=since, until=until,
                                feedback=feedback, latency=latency, quantiles=quantiles,
                                unit=unit)
    feedback = tuple(dict.fromkeys(feedback))
    names = _column_names(feedback)
    parts: dict[str, list[Array]] = {a.name: [] for a in arms}
    keys: dict[str, list[NDArray[np.int64]]] = {a.name: [] for a in arms}
    multiple, multiple_requests = 0, 0
    with store.reading() as conn:
        bracketed = conn.dialect.name == "postgresql" and bool(quantiles)
        if conn.dialect.name == "postgresql":
            # the per-unit hash aggregate of a large window spills to disk at the default 4MB
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
        found: list[b.Bracket] = []
        extras: list[sa.Label[Any]] = []
        if bracketed:
            found = b.brackets(b.histogram(
                conn, arms, partial(_window, feature, arms, since, until, unit)), quantiles)
            extras = [b.unit_key(unit).label("unit_key"),
                      *b.below_columns(b.arm_index(arms), found, quantiles)]
        width = len(names) + max(0, len(extras) - 1)  # float columns kept per unit
        with _units_select(conn, feature, arms, since, until, feedback, unit, extras) as query:
            # A plain (client-side buffered) query, not a server-side cursor: PostgreSQL plans
            # a cursor for a fast first row and gives it no parallel workers — the grouped
            # query took 155 s that way over 10M requests against 18 s as a plain query. It
            # returns one row per unit, so the buffer grows with units, never with requests.
            chunks = _copy_chunks if conn.dialect.name == "postgresql" else _fetch_chunks
            for chunk in chunks(conn, query, arms, len(names), bool(extras)):
                one, requests = _split(chunk, arms, parts, keys if extras else None)
                multiple += one
                multiple_requests += requests
        lat = _latencies(conn, feature, arms, since, until, unit) if latency else {}
        # column by column (contiguous, what ArmUnits holds), each chunk dropped once copied:
        # memory peaks at twice the per-unit columns, not three times
        tables = {a.name: _columns(parts.pop(a.name), width) for a in arms}
        if bracketed:
            qs = _bracketed_quantiles(conn, feature, arms, since, until, quantiles, unit,
                                      found, tables, keys)
        else:
            qs = _quantiles(conn, feature, arms, since, until, quantiles, unit) \
                if quantiles else {}
    out = []
    for a in arms:
        columns = dict(zip(names, tables[a.name], strict=False))
        values, labels = lat.get(a.name, (_EMPTY, _EMPTY))
        out.append(ArmUnits(a.name, a.release_id, columns, values, labels, qs.get(a.name, {})))
    return Extraction(tuple(out), since, until, multiple, multiple_requests)


def _split(chunk: Chunk, arms: Sequence[Arm], parts: Mapping[str, list[Array]],
           keys: Mapping[str, list[NDArray[np.int64]]] | None) -> tuple[int, int]:
    """Add a chunk's singly exposed units to their arm's `parts` (and unit `keys`, when
    given); (multiple exposures, their requests)."""
    lo, hi, values, unit_keys = chunk
    single = lo == hi
    for i, a in enumerate(arms):
        mine = single & (lo == i)
        parts[a.name].append(values[mine])
        if keys is not None:
            keys[a.name].append(unit_keys[mine])
    return (int(np.count_nonzero(~single)),
            int(values[~single, REQUEST_COLUMNS.index(m.REQUESTS)].sum()))


def load_rollup_units(
    store: Store, *, experiment_id: int, arms: Sequence[Arm], since: float, until: float,
    unit: str = "user", feedback: Sequence[str] = (), quantiles: Sequence[float] = (),
) -> tuple[Extraction | None, str]:
    """`load_units`' request columns, `feedback` columns and latency `quantiles` of the window
    `[since, until]` read from the experiment's roll-up (`rampway.experiments.rollup`; the
    feedback joined to its units by `rampway.experiments.rollup_feedback`, the quantiles from
    its histograms, `rampway.experiments.rollup_quantiles`): one row per
    unit, binary COPY on PostgreSQL as `load_units` reads its per-unit rows. (None, why) when
    the roll-up does not hold that window as the event log does (`rollup.covers`, or a unit
    with a request after `until`): the caller then reads the event log.

    One snapshot (REPEATABLE READ on PostgreSQL, SQLite's read transaction): the checks and
    the rows must agree."""
    from rampway.experiments import rollup, rollup_feedback

    feedback = tuple(dict.fromkeys(feedback))
    names = _column_names(feedback)
    parts: dict[str, list[Array]] = {a.name: [] for a in arms}
    multiple, multiple_requests = 0, 0
    last_column = REQUEST_COLUMNS.index(m.LAST_TS)
    with store.reading() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        segment = rollup.get(conn, experiment_id)
        if segment is None:
            return None, "the experiment has no roll-up"
        if (segment.since != since or segment.unit != unit
                or segment.arms != tuple((a.name, a.release_id) for a in arms)):
            return None, "the roll-up is of another window, unit or arms"
        why = rollup.covers(conn, segment, until)
        if why is not None:
            return None, why
        u = experiment_rollup_units.c

        def arm(index: sa.ColumnElement[int]) -> sa.ColumnElement[Any]:
            return sa.case(*((index == i, a.name) for i, a in enumerate(arms)))

        query = (sa.select(arm(u.arm_lo), arm(u.arm_hi), *(u[name] for name in REQUEST_COLUMNS))
                 .where(u.experiment_id == experiment_id))
        if feedback:
            rollup_feedback.plan(conn)
            agg, columns = rollup_feedback.per_unit(experiment_id, segment.feature, feedback,
                                                    until, unit)
            query = query.add_columns(*columns).select_from(
                experiment_rollup_units.outerjoin(agg, agg.c.unit_hash == u.unit))
        chunks = _copy_chunks if conn.dialect.name == "postgresql" else _fetch_chunks
        for chunk in chunks(conn, query, arms, len(names), False):
            if chunk[2].size and float(chunk[2][:, last_column].max()) > until:
                return None, "the roll-up holds requests after the analysis time"
            one, requests = _split(chunk, arms, parts, None)
            multiple += one
            multiple_requests += requests
        tables = {a.name: _columns(parts.pop(a.name), len(names)) for a in arms}
        qs: dict[str, dict[float, tuple[float, float, int]]] = {}
        if quantiles:
            from rampway.experiments import rollup_quantiles

            ok = names.index(m.OK_REQUESTS)
            found, why = rollup_quantiles.quantiles(
                conn, experiment_id, arms, quantiles, {a: t[ok] for a, t in tables.items()},
                multiple)
            if found is None:
                return None, why
            qs = found
    out = tuple(ArmUnits(a.name, a.release_id, dict(zip(names, tables[a.name], strict=True)),
                         quantiles=qs.get(a.name, {}))
                for a in arms)
    return Extraction(out, since, until, multiple, multiple_requests), ""


def _columns(chunks: list[Array], width: int) -> list[Array]:
    """The chunks' `width` columns, each one contiguous array."""
    out = [np.concatenate([np.zeros(0), *(c[:, j] for c in chunks)]) for j in range(width)]
    chunks.clear()
    return out


Chunk = tuple[NDArray[np.int64], NDArray[np.int64], Array, NDArray[np.int64]]


def _fetch_chunks(conn: sa.Connection, query: sa.Select[Any], arms: Sequence[Arm],
                  named: int, keyed: bool) -> Iterator[Chunk]:
    """The per-unit rows, `CHUNK` at a time: (arm index, arm_max index, the `named` columns
    then any `below{j}`, unit keys when `keyed`)."""
    index = {a.name: i for i, a in enumerate(arms)}
    # A plain (client-side buffered) query, not a server-side cursor: PostgreSQL plans a
    # cursor for a fast first row and gives it no parallel workers — the grouped query took
    # 155 s that way over 10M requests against 18 s as a plain query. It returns one row per
    # unit, so the buffer grows with units, never with requests.
    for chunk in conn.execute(query).partitions(CHUNK):
        rows = [tuple(r) for r in chunk]
        lo = np.asarray([index[r[0]] for r in rows], dtype=np.int64)
        hi = np.asarray([index[r[1]] for r in rows], dtype=np.int64)
        key = 2 + named if keyed else len(rows[0])
        values = np.asarray([r[2:key] + r[key + 1:] for r in rows], dtype=np.float64)
        keys = np.asarray([r[key] for r in rows] if keyed else [], dtype=np.int64)
        yield lo, hi, values, keys


def _copy_chunks(conn: sa.Connection, query: sa.Select[Any], arms: Sequence[Arm],
                 named: int, keyed: bool) -> Iterator[Chunk]:
    """`_fetch_chunks` on PostgreSQL: the rows as binary COPY, every column 8 bytes (arms as
    their index, counts and sums as float8, the unit key int8) parsed by numpy — Python
    tuples of 500k units took seconds. Still a plain query (a parallel plan); its output is
    read `CHUNK` rows at a time."""
    rows = query.subquery("per_unit")
    columns = list(rows.c)
    key = 2 + named if keyed else len(columns)

    def arm(c: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.cast(sa.case(*((c == a.name, i) for i, a in enumerate(arms)), else_=-1),
                       sa.Float(53))

    selected = [arm(columns[0]), arm(columns[1]),
                *(sa.cast(c, sa.BigInteger() if j == key else sa.Float(53))
                  for j, c in enumerate(columns[2:], start=2))]
    select = sa.select(*selected).compile(dialect=conn.dialect,
                                          compile_kwargs={"render_postcompile": True})
    width = len(selected)
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for j in range(width):
        fields += [(f"len{j}", ">i4"), (f"v{j}", ">i8" if j == key else ">f8")]
    record = np.dtype(fields)
    raw: Any = conn.connection.driver_connection
    buffer = bytearray()
    skip: int | None = None  # the header's bytes, known once its first 19 arrived
    with raw.cursor().copy(f"COPY ({select}) TO STDOUT (FORMAT binary)",
                           select.params) as copy:
        for data in copy:
            buffer += data
            if skip is None and len(buffer) >= 19:
                skip = 19 + int.from_bytes(buffer[15:19], "big")
            if skip and len(buffer) >= skip:
                del buffer[:skip]
                skip = 0
            if skip == 0 and len(buffer) >= CHUNK * record.itemsize:
                yield _records(buffer, record, width, key)
    if len(buffer) >= record.itemsize:  # then the 2-byte trailer
        yield _records(buffer, record, width, key)


def _records(buffer: bytearray, record: np.dtype[Any], width: int, key: int) -> Chunk:
    """Parse the whole binary COPY records at the start of `buffer` and drop them from it."""
    n = len(buffer) // record.itemsize
    parsed = np.frombuffer(bytes(buffer[:n * record.itemsize]), dtype=record)
    del buffer[:n * record.itemsize]
    if np.any(parsed["count"] != width) or any(np.any(parsed[f"len{j}"] != 8)
                                               for j in range(width)):
        raise ValueError("a per-unit row with a NULL or another layout")
    floats = [j for j in range(2, width) if j != key]
    values = (np.column_stack([parsed[f"v{j}"].astype(np.float64) for j in floats])
              if floats else np.zeros((n, 0)))
    keys = parsed[f"v{key}"].astype(np.int64) if key < width else np.zeros(0, dtype=np.int64)
    return (parsed["v0"].astype(np.int64), parsed["v1"].astype(np.int64), values, keys)


def _bracketed_quantiles(
    conn: sa.Connection, feature: str, arms: Sequence[Arm], since: float, until: float,
    qs: Sequence[float], unit: str, found: Sequence[b.Bracket],
    tables: Mapping[str, list[Array]],
    keys: Mapping[str, list[NDArray[np.int64]]],
) -> dict[str, dict[float, tuple[float, float, int]]]:
    """`_quantiles`' numbers from the per-unit rows (their last columns: `below{j}` per q) and
    the brackets' rows (`rampway.experiments.bracket`); an arm a bracket misses, or whose
    unit keys collide, takes `_quantiles`."""
    window = _window(feature, arms, since, until, unit)
    arm_of, row_keys, values = b.bracket_rows(conn, window, arms, found, unit)
    ok_column = REQUEST_COLUMNS.index(m.OK_REQUESTS)
    latencies = latency_query(feature, arms, since, until, unit).subquery("latencies")
    out: dict[str, dict[float, tuple[float, float, int]]] = {}
    generic: list[str] = []
    for i, a in enumerate(arms):
        table = tables[a.name]
        ok = table[ok_column]
        arm_keys = np.concatenate([np.zeros(0, dtype=np.int64), *keys[a.name]])
        order = np.argsort(arm_keys, kind="stable")
        arm_keys = arm_keys[order]
        if np.any(arm_keys[1:] == arm_keys[:-1]):  # two units with one key
            generic.append(a.name)
            continue
        first_below = len(table) - len(qs)
        n = int(ok.sum())
        mine = arm_of == i
        arm_values = sa.select(latencies.c.latency_ms).where(latencies.c.arm == a.name)
        try:
            out[a.name] = {
                q: b.arm_quantile(
                    q, next((x for x in found if x.arm == i and x.q == q), None), arm_keys,
                    ok[order], table[first_below + j][order],
                    (row_keys[mine], values[mine]),
                    partial(linear_quantile, conn, arm_values, n))
                for j, q in enumerate(qs)}
        except b.Missed:
            generic.append(a.name)
    if generic:
        out.update(_quantiles(conn, feature, arms, since, until, qs, unit, only=generic))
    return out


def _latencies(
    conn: sa.Connection, feature: str, arms: Sequence[Arm], since: float, until: float,
    unit: str,
) -> dict[str, tuple[Array, NDArray[Any]]]:
    values: dict[str, list[Array]] = {a.name: [_EMPTY] for a in arms}
    labels: dict[str, list[NDArray[Any]]] = {a.name: [np.zeros(0, dtype=np.str_)] for a in arms}
    # per statement: Connection.execution_options would leave the connection streaming
    result = conn.execute(latency_query(feature, arms, since, until, unit),
                          execution_options={"yield_per": CHUNK})
    for chunk in result.partitions():
        arm = np.asarray([r[0] for r in chunk])
        label = np.asarray([r[1] for r in chunk], dtype=np.str_)
        value = np.asarray([r[2] for r in chunk], dtype=np.float64)
        for name in values:
            mine = arm == name
            values[name].append(value[mine])
            labels[name].append(label[mine])
    return {a: (np.concatenate(values[a]), np.concatenate(labels[a])) for a in values}


__all__ = ["CHUNK", "REQUEST_COLUMNS", "ArmUnits", "Extraction", "latency_query",
           "load_rollup_units", "load_units", "units_query"]
