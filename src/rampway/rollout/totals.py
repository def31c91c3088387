"""A look's per-unit totals, computed by the database: the judge's input without shipping
every request of the window to the client.

`rampway.rollout.extract.load_samples` reads one row per request and sums per unit in numpy;
this module asks the database for one row per unit instead (one GROUP BY per arm, the same SQL
on SQLite and PostgreSQL), which is what keeps a look cheap when a step's window holds
millions of requests. Both paths give the same numbers (tests/rollout/test_rollout_totals.py
compares them on both databases).

Quantile guardrails need their threshold first — the baseline's quantile of the window, read
as numpy's linear quantile from the two order statistics around `q (n - 1)` (`ORDER BY …
LIMIT 2 OFFSET k`, from the nearer end) — and then count, per unit, the requests beyond it
(the candidate's with the margin applied, see `rampway.rollout._judge.candidate_threshold`).

Feedback guardrails are summed per unit in the client from the window's feedback rows, which
are few next to requests (one read, shared with `load_samples`).

Units are the plan's `unit:` (`unit=`): users (`unit_hash`) or sessions (`session_hash`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampway.events.tables import request_events, unit_column
from rampway.rollout._judge import candidate_threshold
from rampway.rollout.extract import ARMS, UnitLabels, _feedback_values
from rampway.rollout.metrics import FEEDBACK_PREFIX, metric_def
from rampway.rollout.observations import Observations, Totals, UnitTotals
from rampway.rollout.plan import Guardrail
from rampway.store import Store
from rampway.store._quantile import linear_quantile

#: A quantile guardrail's threshold in `request_aggregates` (None: not a quantile guardrail).
Threshold = float | sa.ColumnElement[Any] | None


@dataclass(frozen=True, slots=True)
class LookTotals:
    """Per guardrail (by position in the plan): (baseline, candidate) totals and, for quantile
    guardrails, the two arms' quantiles; plus each arm's request and unit counts (SRM)."""

    totals: tuple[tuple[Totals, Totals], ...]
    quantiles: tuple[tuple[float, float] | None, ...]
    requests: Mapping[str, int]
    units: Mapping[str, int]


def arm_window(feature: str, arm: str, release: str, since: float, until: float,
                ) -> sa.ColumnElement[bool]:
    ev = request_events.c
    return sa.and_(ev.feature == feature, ev.ts >= since, ev.ts < until, ev.arm == arm,
                   ev.release_id == release)


def source_filter(source: str) -> sa.ColumnElement[bool] | None:
    """Which requests carry a value of `source` (as `extract._request_series` keeps them)."""
    ev = request_events.c
    if source in ("latency_ms", "output_tokens"):
        return ev.status == "ok"
    if source == "ttft_ms":
        return sa.and_(ev.status == "ok", ev.ttft_ms.is_not(None), ev.ttft_ms >= 0)
    return None


def request_value(source: str) -> sa.ColumnElement[Any]:
    ev = request_events.c
    flags = {"error": ev.status != "ok", "fallback": ev.fallback_used, "refusal": ev.refusal}
    if source in flags:
        return sa.case((flags[source], 1.0), else_=0.0)
    return sa.cast(getattr(ev, source), sa.Float)


def _counts(conn: Connection, windows: Mapping[str, sa.ColumnElement[bool]],
            sources: Sequence[str]) -> dict[tuple[str, str], int]:
    """(arm, source) → how many of the window's requests have a value of `source`: one scan
    for every quantile guardrail of both arms."""
    ev = request_events.c
    columns: list[sa.ColumnElement[Any]] = []
    for source in sources:
        keep = source_filter(source)
        columns.append(sa.func.count() if keep is None
                       else sa.func.coalesce(sa.func.sum(sa.case((keep, 1), else_=0)), 0))
    query = (sa.select(ev.arm, *columns).where(sa.or_(*windows.values())).group_by(ev.arm))
    out = {(arm, source): 0 for arm in windows for source in sources}
    for arm, *counts in conn.execute(query):
        out.update({(arm, source): int(n) for source, n in zip(sources, counts, strict=True)})
    return out


def _quantile(conn: Connection, window: sa.ColumnElement[bool], source: str, q: float,
              n: int) -> float:
    """numpy's linear q-quantile of `source` over the `n` window requests that have it."""
    column = getattr(request_events.c, source)
    keep = source_filter(source)
    where = window if keep is None else sa.and_(window, keep)
    return linear_quantile(conn, sa.select(column).where(where), n, q)


def request_aggregates(
    guardrails: Sequence[Guardrail], thresholds: Sequence[Threshold],
) -> list[tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]]:
    """Per guardrail: (sum, count) aggregate expressions over one unit's requests. A quantile
    guardrail counts the requests beyond its threshold: a number, or an expression (the
    ClickHouse look compares both arms in one query, `rampway.events.clickhouse.totals`)."""
    out: list[tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]] = []
    for g, threshold in zip(guardrails, thresholds, strict=True):
        definition = metric_def(g.metric)
        keep = source_filter(definition.source)
        if definition.kind == "quantile":
            column = getattr(request_events.c, definition.source)
            beyond = (column > threshold) if g.bad == "increase" else (column < threshold)
            value: sa.ColumnElement[Any] = sa.case((beyond, 1.0), else_=0.0)
        else:
            value = request_value(definition.source)
        if keep is None:
            out.append((sa.func.sum(value), sa.func.count()))
        else:
            out.append((sa.func.sum(sa.case((keep, value), else_=0.0)),
                        sa.func.sum(sa.case((keep, 1), else_=0))))
    return out


def _unit_rows(conn: Connection, window: sa.ColumnElement[bool], settled: float,
               aggregates: list[tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]],
               unit_kind: str = "user") -> list[tuple[float, ...]]:
    """One row per unit: seen after `settled` (1/0, for the SRM count), requests, then (sum,
    count) per guardrail. A request without a unit is grouped by its own id (its own unit)."""
    ev = request_events.c
    unit = sa.func.coalesce(unit_column(request_events, unit_kind), ev.id)
    columns: list[sa.ColumnElement[Any]] = [
        sa.func.max(sa.case((ev.ts >= settled, 1), else_=0)), sa.func.count()]
    for total, count in aggregates:
        columns += [sa.func.coalesce(total, 0.0), sa.func.coalesce(count, 0)]
    query = sa.select(*columns).where(window).group_by(unit)
    return [tuple(float(v) for v in row) for row in conn.execute(query)]


def load_totals(
    store: Store,
    *,
    feature: str,
    releases: Mapping[str, str],
    guardrails: Sequence[Guardrail],
    since: float,
    until: float,
    settle: float = 0.0,
    unit: str = "user",
) -> LookTotals:
    """Everything one look of the judge needs, aggregated per unit (users, or sessions with
    `unit="session"`) by the database."""
    windows = {arm: arm_window(feature, arm, releases[arm], since, until) for arm in ARMS}
    with store.reading() as conn:
        quantiles, per_arm_thresholds = _thresholds(conn, windows, guardrails)
        request_guards = [i for i, g in enumerate(guardrails)
                          if not g.metric.startswith(FEEDBACK_PREFIX)]
        rows: dict[str, list[tuple[float, ...]]] = {}
        for arm in ARMS:
            aggregates = request_aggregates([guardrails[i] for i in request_guards],
                                     [per_arm_thresholds[arm][i] for i in request_guards])
            rows[arm] = _unit_rows(conn, windows[arm], since + settle, aggregates, unit)
        feedback = feedback_totals(conn, feature, releases, guardrails, since, until, unit)
    totals: list[tuple[Totals, Totals]] = []
    for i in range(len(guardrails)):
        if i in feedback:
            totals.append(feedback[i])
        else:
            col = 2 + 2 * request_guards.index(i)
            totals.append((_column_totals(rows["baseline"], col),
                           _column_totals(rows["candidate"], col)))
    requests = {arm: int(sum(r[1] for r in rows[arm])) for arm in ARMS}
    units = {arm: int(sum(r[0] for r in rows[arm])) for arm in ARMS}
    return LookTotals(tuple(totals), tuple(quantiles), requests, units)


def feedback_totals(
    conn: Connection, feature: str, releases: Mapping[str, str],
    guardrails: Sequence[Guardrail], since: float, until: float, unit: str = "user",
) -> dict[int, tuple[Totals, Totals]]:
    """Guardrail position → (baseline, candidate) per-unit totals, for the feedback
    guardrails (summed in the client from the window's feedback rows)."""
    names = {i: g.metric[len(FEEDBACK_PREFIX):] for i, g in enumerate(guardrails)
             if g.metric.startswith(FEEDBACK_PREFIX)}
    if not names:
        return {}
    values = _feedback_values(conn, feature, releases, sorted(set(names.values())), since,
                              until, UnitLabels(), unit)
    return {i: (_feedback_totals(values.get((name, "baseline"), [])),
                _feedback_totals(values.get((name, "candidate"), [])))
            for i, name in names.items()}


def _thresholds(
    conn: Connection, windows: Mapping[str, sa.ColumnElement[bool]],
    guardrails: Sequence[Guardrail],
) -> tuple[list[tuple[float, float] | None], dict[str, list[float | None]]]:
    """Per guardrail: the arms' quantiles (None for non-quantile guardrails), and the
    threshold each arm's requests are compared with."""
    quantiles: list[tuple[float, float] | None] = []
    per_arm: dict[str, list[float | None]] = {arm: [] for arm in ARMS}
    cache: dict[tuple[str, str, float], float] = {}
    sources = sorted({metric_def(g.metric).source for g in guardrails
                      if metric_def(g.metric).kind == "quantile"})
    counts = _counts(conn, windows, sources) if sources else {}

    def quantile(arm: str, source: str, q: float) -> float:
        key = (arm, source, q)
        if key not in cache:
            cache[key] = _quantile(conn, windows[arm], source, q, counts[arm, source])
        return cache[key]

    for g in guardrails:
        definition = metric_def(g.metric)
        if definition.kind != "quantile":
            quantiles.append(None)
            for arm in ARMS:
                per_arm[arm].append(None)
            continue
        base = quantile("baseline", definition.source, definition.q)
        cand = quantile("candidate", definition.source, definition.q)
        quantiles.append((base, cand))
        per_arm["baseline"].append(base)
        per_arm["candidate"].append(candidate_threshold(base, g))
    return quantiles, per_arm


def _column_totals(rows: Iterable[tuple[float, ...]], col: int) -> UnitTotals:
    table = [(r[col], r[col + 1]) for r in rows]
    if not table:
        return UnitTotals.of([], [])
    arr = np.asarray(table, dtype=np.float64)
    return UnitTotals.of(arr[:, 0], arr[:, 1])


def _feedback_totals(pairs: list[tuple[float, int]]) -> UnitTotals:
    obs = Observations(np.asarray([v for v, _ in pairs], dtype=np.float64),
                       np.asarray([u for _, u in pairs], dtype=np.int64))
    return obs.totals()


__all__ = ["LookTotals", "Threshold", "arm_window", "feedback_totals", "load_totals",
           "request_aggregates", "request_value", "source_filter"]
