"""Guardrail samples from the event log: the thin I/O layer in front of the pure judge.

For a rollout step's window `[since, until)` it reads the feature's request events that the
gateway labelled with arm `baseline` or `candidate`, keeps those served by the rollout's
baseline and candidate releases (a baseline event from another release — someone moved the
channel mid-rollout — does not belong to this comparison and is skipped), and builds one
series per metric source (see `rampway.rollout.metrics`). Feedback counts when it names a
request of the window (`request_id`); its value joins that request's arm.

Each arm also counts its units (distinct `unit_hash`, plus one per request without a unit:
those are assigned per request) for the sample-ratio-mismatch check, from `since + settle`
(the weight reaches every serving process a moment after the step began).

Only the needed columns are read. The comparison is per request: assignment is per unit, so
requests of one unit are correlated; with many units per arm this barely matters for the rates
and latencies guarded here, and it is the same simplification Kayenta and Flagger make.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from rampway.events.tables import feedback_events, request_events
from rampway.rollout.metrics import FEEDBACK_PREFIX
from rampway.rollout.repo import reading
from rampway.store import Store

ARMS = ("baseline", "candidate")
_EMPTY = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ArmSample:
    """One arm's observations in the window, per metric source."""

    arm: str
    release_id: str
    requests: int
    series: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    units: int = 0  # distinct units seen in the window, a request without a unit counting one

    def values(self, source: str) -> NDArray[np.float64]:
        return self.series.get(source, _EMPTY)


_COLUMNS = ("error", "fallback", "refusal", "latency_ms", "ttft_ms", "cost_usd", "output_tokens")


def _flag(column: sa.ColumnElement[bool]) -> sa.ColumnElement[float]:
    return sa.case((column, 1.0), else_=0.0)


def _request_query(
    feature: str, arm: str, release: str, since: float, until: float
) -> sa.Select[Any]:
    """One numeric row per request (ttft -1 when unknown), so numpy can take it in one go."""
    ev = request_events.c
    return (
        sa.select(
            sa.case((ev.status == "ok", 0.0), else_=1.0), _flag(ev.fallback_used),
            _flag(ev.refusal), ev.latency_ms, sa.func.coalesce(ev.ttft_ms, -1.0), ev.cost_usd,
            ev.output_tokens,
        )
        .where(ev.feature == feature, ev.ts >= since, ev.ts < until, ev.arm == arm,
               ev.release_id == release)
        .order_by(ev.ts, ev.id)
    )


def _request_series(rows: list[Any]) -> dict[str, NDArray[np.float64]]:
    if not rows:
        return {}
    table = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(_COLUMNS))
    col = {name: table[:, i] for i, name in enumerate(_COLUMNS)}
    ok = col["error"] == 0
    return {
        "error": col["error"],
        "fallback": col["fallback"],
        "refusal": col["refusal"],
        "latency_ms": col["latency_ms"][ok],
        "ttft_ms": col["ttft_ms"][ok & (col["ttft_ms"] >= 0)],
        "cost_usd": col["cost_usd"],
        "output_tokens": col["output_tokens"][ok],
    }


def load_samples(
    store: Store,
    *,
    feature: str,
    releases: Mapping[str, str],
    since: float,
    until: float,
    feedback: Iterable[str] = (),
    settle: float = 0.0,
) -> dict[str, ArmSample]:
    """`{"baseline": ArmSample, "candidate": ArmSample}` for the window (epoch seconds);
    `units` counted from `since + settle`."""
    names = [f[len(FEEDBACK_PREFIX):] if f.startswith(FEEDBACK_PREFIX) else f for f in feedback]
    out: dict[str, ArmSample] = {}
    with reading(store) as conn:
        units = {arm: int(n) for arm, n in conn.execute(
            _units_query(feature, releases, since + settle, until))}
        for arm in ARMS:
            release = releases[arm]
            rows = [tuple(r) for r in conn.execute(
                _request_query(feature, arm, release, since, until))]
            series = _request_series(rows)
            for name in names:
                values = conn.scalars(_feedback_query(feature, arm, release, name, since, until))
                series[FEEDBACK_PREFIX + name] = np.fromiter(values, dtype=np.float64)
            out[arm] = ArmSample(arm, release, len(rows), series, units.get(arm, 0))
    return out


def _in_window(
    feature: str, releases: Mapping[str, str], since: float, until: float
) -> sa.ColumnElement[bool]:
    """The feature's requests of the window served by the rollout's arm/release pairs."""
    ev = request_events.c
    return sa.and_(
        ev.feature == feature, ev.ts >= since, ev.ts < until,
        sa.or_(*(sa.and_(ev.arm == arm, ev.release_id == releases[arm]) for arm in ARMS)),
    )


def _units_query(
    feature: str, releases: Mapping[str, str], since: float, until: float
) -> sa.Select[Any]:
    """(arm, units) per arm: distinct unit hashes plus the requests that had no unit."""
    ev = request_events.c
    no_unit = sa.func.count() - sa.func.count(ev.unit_hash)
    return (
        sa.select(ev.arm, sa.func.count(sa.distinct(ev.unit_hash)) + no_unit)
        .where(_in_window(feature, releases, since, until))
        .group_by(ev.arm)
    )


def _feedback_query(
    feature: str, arm: str, release: str, name: str, since: float, until: float
) -> sa.Select[Any]:
    ev, fb = request_events.c, feedback_events.c
    return (
        sa.select(fb.value)
        .select_from(feedback_events.join(request_events, fb.request_id == ev.id))
        .where(fb.name == name, ev.feature == feature, ev.ts >= since, ev.ts < until,
               ev.arm == arm, ev.release_id == release)
        .order_by(ev.ts, fb.id)
    )


__all__ = ["ARMS", "ArmSample", "load_samples"]
