"""An experiment as a page: arms and exposure, SRM, each metric's change with its interval, the
decision, and retention curves per arm.

The figures are `rampway experiments analyze`'s (`rampway.experiments.analysis.evaluate` over
one `load_units` extraction, the same calls `analyze` makes); this module only arranges them
and adds the retention curves, which read the same extraction's per-unit first and last
request times, so the page costs one pass over the event log. That pass is seconds at a million
events, so the page serves it from an `AnalysisCache` (`cached_experiment_page`): keyed by the
experiment's id and version, fingerprinted by its newest request and feedback events. With the
events in ClickHouse (`events`, the gateway's store) the extraction and the fingerprint read
them there: the main database has none.

    record = find_experiment(store, "tone", None)            # the latest experiment "tone"
    experiment_page(store, record, now=time.time())
    cached_experiment_page(store, record, AnalysisCache(ttl=10.0))
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from rampway.dashboard.cache import AnalysisCache
from rampway.dashboard.views import chart
from rampway.errors import RefError
from rampway.events.tables import feedback_events, request_events
from rampway.experiments import ExperimentRecord, repo
from rampway.experiments import metrics as m
from rampway.experiments.analysis import evaluate
from rampway.experiments.extract import Extraction, load_units
from rampway.experiments.report import (
    ExperimentReport,
    MetricResult,
    change_text,
    interval_bar,
    shown,
    to_json,
)
from rampway.experiments.spec import check_name
from rampway.store import Store

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents

#: Retention horizons: the smallest step that draws the runtime in at most `MAX_POINTS` points.
STEPS_S = (60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
MAX_POINTS = 30


def find_experiment(store: Store, name: str, experiment_id: int | None) -> ExperimentRecord:
    """The latest experiment `name`, or its run `experiment_id` (RefError: 404)."""
    check_name(name)
    if experiment_id is None:
        return repo.latest(store, name)
    found = repo.get(store, experiment_id) if 0 < experiment_id < 2**31 else None
    if found is None or found.name != name:  # repo.get itself refuses an unknown id
        raise RefError(f"no experiment #{experiment_id} called {name!r}")
    return found


def experiment_page(store: Store, record: ExperimentRecord, *, now: float,
                    events: ClickHouseEvents | None = None) -> dict[str, Any]:
    """Everything the experiment page shows, analysed as of `now` (or the stop)."""
    until = now if record.stopped_at is None else min(now, record.stopped_at)
    extraction = _extract(store if events is None else events, record, until)
    report = evaluate(record, extraction, until=until)
    return {
        "record": record,
        "report": report,
        "doc": to_json(report),
        "metrics": _metric_groups(report),
        "retention": retention_chart(extraction, until),
        "arms": [{"name": a.name, "release_id": a.release_id, "weight_pct": a.weight_bp / 100,
                  "units": a.units, "requests": a.requests,
                  "expected": report.srm.expected[i] if report.srm.expected else None}
                 for i, a in enumerate(report.arms)],
    }


def cached_experiment_page(store: Store, record: ExperimentRecord, cache: AnalysisCache,
                           events: ClickHouseEvents | None = None) -> dict[str, Any]:
    """`experiment_page` through `cache`, with `computed_at` (epoch seconds) added."""
    got = cache.get(("experiment", record.id, record.version),
                    lambda: experiment_fingerprint(store, record, events),
                    lambda: experiment_page(store, record, now=time.time(), events=events))
    return {**got.value, "computed_at": got.computed_at}


def experiment_fingerprint(store: Store, record: ExperimentRecord,
                           events: ClickHouseEvents | None = None) -> tuple[Any, ...]:
    """The newest request of the experiment's feature since its start, and the newest
    feedback of each name its metrics read: what an analysis that changes has seen change.
    Each is one lookup on an index ending in `ts` (in ClickHouse: on its sort key)."""
    e, f = request_events.c, feedback_events.c
    names = m.feedback_names([m.metric_def(n) for n in _metric_names(record)])
    if events is not None:
        from rampway.events.clickhouse.sql import to_clickhouse

        newest = sa.select(sa.func.max(e.ts)).where(e.feature == record.feature,
                                                    e.ts >= record.started_at)
        latest = [sa.select(sa.func.max(f.ts)).where(f.name == name).scalar_subquery()
                  for name in names]
        (found,) = zip(*events.backend.columns(to_clickhouse(
            sa.select(newest.scalar_subquery(), *latest))), strict=True)
        return found[0], tuple(found[1:])
    with store.reading() as conn:
        newest = conn.scalar(sa.select(sa.func.max(e.ts)).where(
            e.feature == record.feature, e.ts >= record.started_at))
        feedback = tuple(conn.scalar(sa.select(sa.func.max(f.ts)).where(f.name == name))
                         for name in names)
    return newest, feedback


def _metric_names(record: ExperimentRecord) -> list[str]:
    return [record.primary, *record.secondary, *(g.metric for g in record.guardrails)]


def _extract(store: Store | ClickHouseEvents, record: ExperimentRecord,
             until: float) -> Extraction:
    """What `analysis.analyze` reads, read once here so the curves share it."""
    defs = [m.metric_def(n) for n in _metric_names(record)]
    return load_units(
        store, feature=record.feature, arms=record.arms, since=record.started_at, until=until,
        feedback=m.feedback_names(defs),
        quantiles=sorted({d.q or 0.5 for d in defs if d.kind == "quantile"}),
    )


def _metric_groups(report: ExperimentReport) -> list[dict[str, Any]]:
    """Per metric (in the report's order): its role and one row per treatment arm, with the
    change as the verdict reads it and a text plot of the interval against zero."""
    groups: dict[str, list[MetricResult]] = {}
    for r in report.results:
        groups.setdefault(r.metric, []).append(r)
    out = []
    for metric, results in groups.items():
        ends = [abs(x) for r in results for x in (shown(r)[0], *shown(r)[2]) if math.isfinite(x)]
        scale = max(ends, default=0.0) * 1.05 or 1.0
        first = results[0]
        out.append({
            "metric": metric, "role": first.role, "good": first.good, "kind": first.kind,
            "control_mean": first.control_mean, "n_control": first.n_control,
            "rows": [{"arm": r.arm, "n": r.n_treatment, "mean": r.treatment_mean,
                      "change": change_text(r), "verdict": r.verdict.value,
                      "bar": interval_bar(shown(r)[0], shown(r)[1], shown(r)[2], scale)}
                     for r in results],
        })
    return out


def retention_chart(extraction: Extraction, until: float) -> dict[str, Any]:
    """Per arm, the share of units (exposed at least h before `until`) with a request at least
    h after their first — `retention:<N>d`'s definition at every horizon h of the grid."""
    runtime = max(0.0, until - extraction.since)
    step = next((s for s in STEPS_S if runtime / s <= MAX_POINTS), STEPS_S[-1])
    horizons = [step * i for i in range(1, int(runtime // step) + 1)][:MAX_POINTS]
    series = []
    for arm in extraction.arms:
        first, last = arm.column(m.FIRST_TS), arm.column(m.LAST_TS)
        series.append({"label": arm.arm, "data": [_share(first, last, h, until)
                                                  for h in horizons]})
    return chart("line", [h / 3600 for h in horizons], series, time=False,
                 x_label="hours since exposure", y_label="share of units still active")


def _share(first: np.ndarray[Any, Any], last: np.ndarray[Any, Any], horizon: float,
           until: float) -> float | None:
    old_enough = first <= until - horizon
    n = int(old_enough.sum())
    return None if n == 0 else float(((last - first) >= horizon)[old_enough].mean())


__all__ = ["cached_experiment_page", "experiment_fingerprint", "experiment_page",
           "find_experiment", "retention_chart"]
