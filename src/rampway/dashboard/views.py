"""What each page shows, read from the store as plain dicts (templates only format them).

    overview(store, now=time.time())            # every feature: production, in flight, health
    feature_page(store, "support-bot")          # channels, rollouts, the timeline
    rollout_page(store, record)                 # steps, weights over time, guardrail looks

Charts are described as data (`chart(...)`): x values (epoch seconds) and named series, which
`static/dashboard.js` hands to uPlot. No SQL here beyond what the areas' own readers do, except
the health roll-up's (`rampway.dashboard.health`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rampway.dashboard.gate_view import recent_gates
from rampway.experiments import repo as experiments
from rampway.release import Release, diff_releases
from rampway.rollout import RolloutRecord, repo
from rampway.rollout.state import Status
from rampway.rollout.verdicts import describe_srm
from rampway.shadow import repo as shadow_repo
from rampway.store import Store
from rampway.store.schema import audit_log
from rampway.timeline import build_timeline

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents

#: Commands the rollout page offers, and in which states (the controller checks again).
COMMANDS_BY_STATUS: dict[Status, tuple[str, ...]] = {
    Status.PENDING: ("rollback",),
    Status.RUNNING: ("pause", "promote", "rollback"),
    Status.PAUSED: ("resume", "promote", "rollback"),
    Status.AWAITING_APPROVAL: ("approve", "promote", "rollback"),
}


def chart(kind: str, x: list[float], series: list[dict[str, Any]], **options: Any) -> dict[
        str, Any]:
    """A chart for dashboard.js: `kind` spark | line | step; each series `{label, data}`
    (None for a gap); NaN/inf become gaps (JSON has no NaN)."""
    clean = [{**s, "data": [_finite(v) for v in s["data"]]} for s in series]
    return {"kind": kind, "x": x, "series": clean, **options}


def _finite(value: Any) -> float | None:
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


# -- overview -------------------------------------------------------------------------------


def overview(store: Store, *, now: float,
             events: ClickHouseEvents | None = None) -> list[dict[str, Any]]:
    """One row per feature: production release, rollout / experiment in flight, health (from
    `events`, the event log in ClickHouse, when the events go there)."""
    from rampway.dashboard.health import read_health

    features = store.list_features()
    health = read_health(store, features, now=now, events=events)
    production = {c.feature: c.release_id for c in store.list_channels()
                  if c.channel == "production"}
    rollouts = {r.feature: r for r in repo.list_active(store)}
    running = {e.feature: e for e in experiments.list_running(store)}
    shadows: dict[str, list[str]] = {}
    for shadow in shadow_repo.list_running(store):
        shadows.setdefault(shadow.feature, []).append(shadow.name)
    rows = []
    for name in features:
        h = health[name]
        series, day = h.series(), h.series(day=True)
        rows.append({
            "name": name,
            "production": production.get(name),
            "rollout": None if name not in rollouts else rollout_brief(rollouts[name]),
            "experiment": None if name not in running else {
                "name": running[name].name, "id": running[name].id,
                "arms": [a.name for a in running[name].arms]},
            "shadows": shadows.get(name, []),
            "health": h,
            "spark": chart("spark", series["t"], [
                {"label": "requests/min", "data": series["requests"]},
                {"label": "errors/min", "data": series["errors"]}]),
            "spark_day": chart("spark", day["t"], [
                {"label": "requests/30 min", "data": day["requests"]},
                {"label": "errors/30 min", "data": day["errors"]}]),
        })
    return rows


def rollout_brief(r: RolloutRecord) -> dict[str, Any]:
    steps = len(r.plan.steps)
    return {"id": r.id, "status": r.status.value, "step": r.step + 1, "steps": steps,
            "weight_pct": r.weight_bp / 100, "candidate": r.candidate, "baseline": r.baseline}


# -- feature --------------------------------------------------------------------------------


def feature_page(store: Store, feature: str, *, limit: int = 200,
                 diff: tuple[str, str] | None = None) -> dict[str, Any]:
    """Channels, recent rollouts and the timeline (newest first) of `feature` (RefError if
    unknown), and the diff of two of its releases when `diff` names them (RefError if one is
    unknown)."""
    entries = build_timeline(store, feature, limit=limit)  # refuses an unknown feature
    return {
        "releases": [r.release_id for r in store.list_releases(feature)],
        "diff": None if diff is None else release_diff(store, feature, *diff),
        "name": feature,
        "channels": store.list_channels(feature),
        "rollouts": [rollout_brief(r) for r in repo.recent(store, feature, 20)],
        "gates": recent_gates(store, feature),
        "timeline": list(reversed(entries)),
    }


def release_diff(store: Store, feature: str, a: str, b: str) -> dict[str, Any]:
    """`rampway release diff`'s comparison of two published releases (id, prefix or digest),
    with the unified prompt diffs split into lines the template colours."""
    old, new = (Release.from_canonical(store.get_release(feature, ref).canonical)
                for ref in (a, b))
    d = diff_releases(old, new)
    return {"a": d.a, "b": d.b, "identical": d.identical,
            "fields": [f.render() for f in d.fields],
            "files": [{"path": f.path, "status": f.status,
                       "lines": [(_line_kind(line), line) for line in f.diff.splitlines()]}
                      for f in d.files]}


def _line_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")


# -- rollout --------------------------------------------------------------------------------


def rollout_page(store: Store, r: RolloutRecord, *, now: datetime) -> dict[str, Any]:
    """Steps, weight over time, each guardrail per look against its margin, the verdict."""
    looks = repo.looks(store, r.id)
    evaluation = looks[-1].evidence if looks else r.evaluation
    return {
        "rollout": r,
        "brief": rollout_brief(r),
        "steps": [{"index": i + 1, "weight_pct": s.weight, "dwell_s": s.dwell,
                   "approval": s.approval, "current": i == r.step}
                  for i, s in enumerate(r.plan.steps)],
        "transitions": _transitions(store, r),
        "weights": _weight_chart(store, r, now),
        "guardrails": _guardrail_charts(looks),
        "evaluation": evaluation,
        "srm": None if not evaluation or not evaluation.get("srm")
        else describe_srm(evaluation["srm"]),
        "looks": len(looks),
        "commands": COMMANDS_BY_STATUS.get(r.status, ()),
    }


def _audit_rows(store: Store, r: RolloutRecord) -> list[Any]:
    c = audit_log.c
    with store.reading() as conn:
        return list(conn.execute(
            sa.select(audit_log).where(c.object_type == "rollout", c.object_id == r.ref)
            .order_by(c.id)))


def _transitions(store: Store, r: RolloutRecord) -> list[dict[str, Any]]:
    out = []
    for row in _audit_rows(store, r):
        after = row.after if isinstance(row.after, dict) else {}
        out.append({"at": row.at, "action": row.action.partition(".")[2], "actor": row.actor,
                    "reason": row.reason, "status": after.get("status"),
                    "weight_pct": None if "weight_bp" not in after else after["weight_bp"] / 100})
    return out


def _weight_chart(store: Store, r: RolloutRecord, now: datetime) -> dict[str, Any]:
    """The candidate's weight at every transition, held until the next (and until now or the
    rollout's end, so a running step shows as a flat line up to the present)."""
    x: list[float] = []
    weights: list[float] = []
    for t in _transitions(store, r):
        if t["weight_pct"] is not None:
            x.append(t["at"].timestamp())
            weights.append(t["weight_pct"])
    if weights:
        end = r.finished_at or now
        x.append(max(end.timestamp(), x[-1]))
        weights.append(weights[-1])
    return chart("step", x, [{"label": "candidate weight %", "data": weights}])


def _guardrail_charts(looks: list[repo.Look]) -> list[dict[str, Any]]:
    """Per guardrail: estimate and interval at every look, with the margin's limit line."""
    by_metric: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for look in looks:
        for g in look.evidence.get("guardrails") or []:
            by_metric.setdefault(str(g.get("metric")), []).append((look.at.timestamp(), g))
    out = []
    for metric, points in by_metric.items():
        x = [t for t, _ in points]
        last = points[-1][1]
        out.append({
            "metric": metric, "last": last, "scale": last.get("scale"),
            "chart": chart("line", x, [
                {"label": "estimate", "data": [g.get("estimate") for _, g in points]},
                {"label": "lower", "data": [g.get("lower") for _, g in points]},
                {"label": "upper", "data": [g.get("upper") for _, g in points]},
                {"label": "limit (margin)", "data": [g.get("limit") for _, g in points]},
            ]),
        })
    return out


__all__ = ["COMMANDS_BY_STATUS", "chart", "feature_page", "overview", "release_diff",
           "rollout_brief", "rollout_page"]
