"""A rollout judge's look on ClickHouse: `rampway.rollout.totals.load_totals`'s numbers, with
the arms' per-unit sums reduced to their moments on the server.

With `events:` in rampway.yaml the requests of a step's window are in ClickHouse, so the
controller's looks read them there (`Controller(events=…)`). The metric definitions are the
SQL path's own — the window, which requests carry a value, the value, the (sum, count) per
unit — taken from `rampway.rollout.totals` and compiled for ClickHouse
(`rampway.events.clickhouse.sql`). What differs is where the per-unit rows end: the SQL path
ships one row per unit to the client, here the server sums them into what the judge reads of
an arm (`UnitMoments`: K, Σx, Σy, Σx², Σy², Σxy), so a look returns a few rows whatever the
window holds. Three queries at most:

    1. quantile guardrails: per arm, the window's values of each source (`groupArrayIf`,
       memory on the server) and the two order statistics around q (n - 1), sorted from the
       nearer end only — `rampway.store._quantile.linear_quantile`'s, so the thresholds
       equal the SQL path's to the last bit;
    2. per arm: the request guardrails' moments over units, the requests and the units seen
       after the SRM's settling time (both arms in one GROUP BY arm, unit; a quantile
       guardrail's threshold is the arm's own, `candidate_threshold` for the candidate);
    3. feedback guardrails: `rampway.rollout.extract`'s rules (feedback tied to one of the
       window's requests counts for that request's arm and unit; unit-level feedback for a
       unit the window served in one arm only, from its first request on) as two joins,
       reduced to moments per (name, arm).

Rates, means and exceedances equal the SQL path's up to summation order (tests/rollout/
test_rollout_clickhouse.py compares both on SQLite and PostgreSQL).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.sql import to_clickhouse
from rampway.events.tables import feedback_events, request_events, unit_column
from rampway.rollout._judge import candidate_threshold
from rampway.rollout.extract import ARMS
from rampway.rollout.metrics import FEEDBACK_PREFIX, metric_def
from rampway.rollout.observations import Totals, UnitMoments
from rampway.rollout.plan import Guardrail
from rampway.rollout.totals import (
    LookTotals,
    Threshold,
    request_aggregates,
    source_filter,
)

_NO_MOMENTS = UnitMoments(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def load_look(
    backend: Backend,
    *,
    feature: str,
    releases: Mapping[str, str],
    guardrails: Sequence[Guardrail],
    since: float,
    until: float,
    settle: float = 0.0,
    unit: str = "user",
) -> LookTotals:
    """`rampway.rollout.totals.load_totals` on the events in ClickHouse."""
    window = arms_window(feature, releases, since, until)
    quantiles, thresholds = _thresholds(backend, window, guardrails)
    request_guards = [i for i, g in enumerate(guardrails)
                      if not g.metric.startswith(FEEDBACK_PREFIX)]
    moments, requests, units = _request_moments(
        backend, window, since + settle, [guardrails[i] for i in request_guards],
        [thresholds[i] for i in request_guards], unit)
    names = {i: g.metric[len(FEEDBACK_PREFIX):] for i, g in enumerate(guardrails)
             if g.metric.startswith(FEEDBACK_PREFIX)}
    feedback = (_feedback_moments(backend, window, feature, sorted(set(names.values())),
                                  since, until, unit) if names else {})
    totals: list[tuple[Totals, Totals]] = []
    for i in range(len(guardrails)):
        if i in names:
            totals.append((feedback.get((names[i], "baseline"), _NO_MOMENTS),
                           feedback.get((names[i], "candidate"), _NO_MOMENTS)))
        else:
            j = request_guards.index(i)
            totals.append((moments["baseline"][j], moments["candidate"][j]))
    return LookTotals(tuple(totals), tuple(quantiles), requests, units)


def arms_window(feature: str, releases: Mapping[str, str], since: float, until: float,
                ) -> sa.ColumnElement[bool]:
    """`arm_window` of either arm, the key's columns (feature, ts) once for the primary
    index."""
    ev = request_events.c
    return sa.and_(ev.feature == feature, ev.ts >= since, ev.ts < until,
                   sa.or_(*(sa.and_(ev.arm == arm, ev.release_id == releases[arm])
                            for arm in ARMS)))


def _thresholds(
    backend: Backend, window: sa.ColumnElement[bool], guardrails: Sequence[Guardrail],
) -> tuple[list[tuple[float, float] | None], list[Threshold]]:
    """Per guardrail: the arms' quantiles (None for other guardrails), and the threshold a
    request is compared with — per arm, as one expression for query 2."""
    wanted = sorted({(metric_def(g.metric).source, metric_def(g.metric).q) for g in guardrails
                     if metric_def(g.metric).kind == "quantile"})
    found = _arm_quantiles(backend, window, wanted) if wanted else {}
    quantiles: list[tuple[float, float] | None] = []
    thresholds: list[Threshold] = []
    for g in guardrails:
        definition = metric_def(g.metric)
        if definition.kind != "quantile":
            quantiles.append(None)
            thresholds.append(None)
            continue
        key = (definition.source, definition.q)
        base = found.get(("baseline", *key), math.nan)
        cand = found.get(("candidate", *key), math.nan)
        quantiles.append((base, cand))
        thresholds.append(sa.case(
            (request_events.c.arm == "baseline", sa.literal(base, sa.Float)),
            else_=sa.literal(candidate_threshold(base, g), sa.Float)))
    return quantiles, thresholds


def _arm_quantiles(backend: Backend, window: sa.ColumnElement[bool],
                   wanted: Sequence[tuple[str, float]]) -> dict[tuple[str, str, float], float]:
    """(arm, source, q) → numpy's linear q-quantile of the arm's window values of `source`.

    The two order statistics around q (n - 1) are read from the nearer end, as
    `linear_quantile` does: the arm's values are sorted only up to them (`arrayPartialSort`,
    or `arrayPartialReverseSort` above the median — a p95 sorts the top 5%)."""
    ev = request_events.c
    values = []
    for j, (source, _) in enumerate(wanted):
        column, keep = getattr(ev, source), source_filter(source)
        values.append((sa.func.groupArray(column) if keep is None
                       else sa.func.groupArrayIf(column, keep)).label(f"v{j}"))
    arrays = (sa.select(ev.arm.label("arm"), *values).where(window).group_by(ev.arm)
              .subquery("arm_values"))
    partial: list[sa.ColumnElement[Any]] = [arrays.c.arm]
    for j, (_, q) in enumerate(wanted):
        v = arrays.c[f"v{j}"]
        n = sa.func.length(v)
        lo = sa.func.toUInt64(sa.func.floor(q * (sa.func.greatest(n, 1) - 1)))  # 0-based
        hi = sa.func.least(lo + 1, sa.func.greatest(n, 1) - 1)
        if q >= 0.5:  # descending: the k-th smallest is at 1-based position n - k
            r = sa.func.arrayPartialReverseSort(n - lo, v)
            first, last = sa.func.arrayElement(r, n - lo), sa.func.arrayElement(r, n - hi)
        else:
            r = sa.func.arrayPartialSort(lo + 2, v)
            first, last = sa.func.arrayElement(r, lo + 1), sa.func.arrayElement(r, hi + 1)
        partial += [n, first, last]
    found = backend.columns(to_clickhouse(sa.select(*partial)))
    out: dict[tuple[str, str, float], float] = {}
    for row, arm in enumerate(found[0]):
        for j, (source, q) in enumerate(wanted):
            n, first, last = (found[1 + 3 * j + k][row] for k in range(3))
            out[arm, source, q] = _interpolate(int(n), q, float(first), float(last))
    return out


def _interpolate(n: int, q: float, first: float, last: float) -> float:
    """`linear_quantile`'s value from the order statistics at floor(q (n - 1)) and after."""
    if n <= 0:
        return math.nan
    pos = q * (n - 1)
    return first + (last - first) * (pos - math.floor(pos))


def _moments(x: sa.ColumnElement[Any], y: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    """`UnitMoments`' fields over the units (rows) with a count (`UnitTotals.of` keeps those)."""
    return [sa.func.countIf(y > 0), sa.func.sum(x), sa.func.sum(y), sa.func.sum(x * x),
            sa.func.sum(y * y), sa.func.sum(x * y)]


def _request_moments(
    backend: Backend, window: sa.ColumnElement[bool], settled: float,
    guardrails: Sequence[Guardrail], thresholds: Sequence[Threshold], unit: str,
) -> tuple[dict[str, list[UnitMoments]], dict[str, int], dict[str, int]]:
    """Per arm: each request guardrail's moments; the requests; the units seen after
    `settled`. The per-unit rows are `totals._unit_rows`' (a request without a unit is its
    own unit), grouped by arm too."""
    ev = request_events.c
    per_unit: list[sa.ColumnElement[Any]] = [
        ev.arm.label("arm"), sa.func.max(sa.case((ev.ts >= settled, 1), else_=0)).label("seen"),
        sa.func.count().label("requests")]
    for j, (total, count) in enumerate(request_aggregates(guardrails, thresholds)):
        per_unit += [sa.func.coalesce(total, 0.0).label(f"x{j}"),
                     sa.func.coalesce(count, 0).label(f"y{j}")]
    unit_col = unit_column(request_events, unit)
    # (unit, id of a request without one): grouping by COALESCE(unit, id) built a string
    # per request, which took most of the look
    alone = sa.case((unit_col.is_(None), ev.id), else_="")
    units = (sa.select(*per_unit).where(window).group_by(ev.arm, unit_col, alone)
             .subquery("units"))
    columns = [units.c.arm, sa.func.sum(units.c.seen), sa.func.sum(units.c.requests)]
    for j in range(len(guardrails)):
        columns += _moments(units.c[f"x{j}"], units.c[f"y{j}"])
    found = backend.columns(to_clickhouse(sa.select(*columns).group_by(units.c.arm)))
    moments = {arm: [_NO_MOMENTS] * len(guardrails) for arm in ARMS}
    requests, seen = dict.fromkeys(ARMS, 0), dict.fromkeys(ARMS, 0)
    for row, arm in enumerate(found[0]):
        seen[arm], requests[arm] = int(found[1][row]), int(found[2][row])
        moments[arm] = [UnitMoments(*(float(found[3 + 6 * j + k][row]) for k in range(6)))
                        for j in range(len(guardrails))]
    return moments, requests, seen


def _feedback_moments(
    backend: Backend, window: sa.ColumnElement[bool], feature: str, names: Sequence[str],
    since: float, until: float, unit: str,
) -> dict[tuple[str, str], UnitMoments]:
    """(name, arm) → the moments of the feedback's per-unit (sum, count), by the rules of
    `rampway.rollout.extract._feedback_values`, as joins (ClickHouse has no correlated
    subqueries): feedback tied to a request of the window counts for its arm and unit (its
    own unit when the request has none); unit-level feedback of this feature (or none) within
    the window, for a unit served in one arm only, from that unit's first request on."""
    ev, fb = request_events.c, feedback_events.c
    served = (sa.select(ev.id.label("id"), ev.arm.label("arm"),
                        unit_column(request_events, unit).label("unit"))
              .where(window).subquery("served"))
    tied = (sa.select(fb.name.label("name"), served.c.arm.label("arm"),
                      sa.func.coalesce(served.c.unit, sa.func.concat("feedback:", fb.id))
                      .label("unit"), fb.value.label("value"))
            .select_from(feedback_events.join(served, fb.request_id == served.c.id))
            .where(fb.name.in_(names), fb.ts >= since, fb.request_id.is_not(None)))
    unit_col = unit_column(request_events, unit)
    single = (sa.select(unit_col.label("unit"), sa.func.min(ev.arm).label("arm"),
                        sa.func.min(ev.ts).label("first"))
              .where(window, unit_col.is_not(None)).group_by(unit_col)
              .having(sa.func.count(sa.distinct(ev.arm)) == 1).subquery("single"))
    fb_unit = unit_column(feedback_events, unit)
    unit_level = (
        sa.select(fb.name.label("name"), single.c.arm.label("arm"),
                  sa.func.assumeNotNull(fb_unit).label("unit"), fb.value.label("value"))
        .select_from(feedback_events.join(single, fb_unit == single.c.unit))
        .where(fb.name.in_(names), fb.ts >= since, fb.ts < until, fb.request_id.is_(None),
               fb_unit.is_not(None), sa.or_(fb.feature == feature, fb.feature.is_(None)),
               fb.ts >= single.c.first))
    values = sa.union_all(tied, unit_level).subquery("feedback_values")
    per_unit = (sa.select(values.c.name, values.c.arm, sa.func.sum(values.c.value).label("x"),
                          sa.func.count().label("y"))
                .group_by(values.c.name, values.c.arm, values.c.unit).subquery("units"))
    query = (sa.select(per_unit.c.name, per_unit.c.arm, *_moments(per_unit.c.x, per_unit.c.y))
             .group_by(per_unit.c.name, per_unit.c.arm))
    found = backend.columns(to_clickhouse(query))
    return {(name, arm): UnitMoments(*(float(found[2 + k][row]) for k in range(6)))
            for row, (name, arm) in enumerate(zip(found[0], found[1], strict=True))}


__all__ = ["arms_window", "load_look"]
