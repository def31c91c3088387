"""`rampway models plan`: the migration plan for every model going away, as a report.

    rampway models plan [--within 90d] [--as-of 2027-01-10] [--format md|json|text] [--json]

Per feature whose production release (or working-tree release, without a database) calls a
model deprecated or retiring in the window: the dates, the successor, the upgrade candidate
(`plan_upgrade`: the id `rampway models upgrade` would make), that candidate's latest recorded
gate against production with its key deltas, the behaviour shift a shadow of it measured
(verbosity, tool use, JSON adherence; `rampway.shadow.report`, read only) and the next action
(`rampway.lifecycle.migration`). Flags whose values name such a model are listed too. Read
only: nothing is written, no provider is called. Exit 0 (it reports; `models check` fails CI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.cli.models import flag_uses, models_app, parse_day, parse_window, project_catalog
from rampway.errors import ConfigError

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.lifecycle.migration import FeaturePlan, ShadowSummary
    from rampway.providers.catalog import Catalog, Sunset
    from rampway.release import Release
    from rampway.store import Store

FORMATS = ("text", "md", "json")


@models_app.command("plan")
@handle_errors
def plan_cmd(
    within: Annotated[str, typer.Option("--within", help="Window: 90d, 12w, 6m, 1y.")] = "90d",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Today (YYYY-MM-DD).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, md or json.")] = "text",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per feature on a model going away: dates, successor, gate verdict, next action."""
    from rampway.lifecycle.migration import render_markdown, render_text
    from rampway.providers.catalog import find_sunsets

    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    days, today = parse_window(within), parse_day(as_of)
    horizon = today + dt.timedelta(days=days)
    proj = load_project_option(project)
    catalog = project_catalog(proj)
    plans = feature_plans(proj, catalog, today, horizon)
    named, _pinned, _expired = flag_uses(proj, catalog, today)
    flags = find_sunsets(named, today=today, horizon=horizon)
    if as_json or fmt == "json":
        emit_json({"as_of": today.isoformat(), "within_days": days,
                   "features": [p.to_json(today) for p in plans],
                   "flags": [{"flag": s.feature, "where": s.role, **{
                       k: v for k, v in s.to_json(today).items() if k not in ("feature", "role")}}
                             for s in flags]})
        return
    render = render_markdown if fmt == "md" else render_text
    console.print(render(plans, flags, today, days), markup=False, soft_wrap=True)


def feature_plans(proj: Project, catalog: Catalog, today: dt.date,
                  horizon: dt.date) -> list[FeaturePlan]:
    from rampway.cli.models_upgrade import candidate_features, maybe_store
    from rampway.lifecycle import production_release
    from rampway.providers.catalog import find_sunsets

    kinds = {name: cfg.kind for name, cfg in proj.config.providers.items()}
    plans = []
    with maybe_store(proj) as store:
        for feature in candidate_features(proj, store):
            base, _source = production_release(proj, store, feature)
            uses = [(feature, "primary" if i == 0 else f"fallbacks[{i - 1}]", info)
                    for i, (p, m) in enumerate(base.models)
                    if (info := catalog.find(p, m) or catalog.find(kinds.get(p, ""), m))]
            sunsets = find_sunsets(uses, today=today, horizon=horizon)
            if sunsets:
                plans.append(_plan_one(base, tuple(sunsets), catalog, kinds, store, today,
                                       horizon))
    return plans


def _plan_one(base: Release, sunsets: tuple[Sunset, ...], catalog: Catalog,
              kinds: Mapping[str, str], store: Store | None, today: dt.date,
              horizon: dt.date) -> FeaturePlan:
    from rampway.gate import latest_gate
    from rampway.lifecycle import plan_upgrade
    from rampway.lifecycle.migration import FeaturePlan, gate_summary

    provider, model = base.models[0]
    current = f"{provider}/{model}"
    try:
        plan = plan_upgrade(base, catalog, kinds, today=today, horizon=horizon)
    except ConfigError as exc:
        return FeaturePlan(base.feature, base.id, current, sunsets, blocked=exc.message)
    cand = plan.candidate
    gate = shadow = None
    if store is not None:
        record = latest_gate(store, base.feature, cand.id, base.id)
        if record is not None:
            gate = gate_summary(record.id, record.verdict.value, record.summary)
        shadow = shadow_summary(store, base.feature, cand.id)
    successor = f"{cand.models[0][0]}/{cand.models[0][1]}"
    return FeaturePlan(base.feature, base.id, current, sunsets, successor, cand.id, None, gate,
                       shadow, plan.warnings)


def shadow_summary(store: Store, feature: str, candidate: str) -> ShadowSummary | None:
    """The behaviour shift the latest shadow mirroring to `candidate` measured, if any."""
    from rampway.lifecycle.migration import ShadowSummary, shifts_from
    from rampway.shadow import repo
    from rampway.shadow.pairs import load_pairs
    from rampway.shadow.report import build_report, similarity_of

    record = next((r for r in repo.recent(store, feature=feature) if candidate in r.candidates),
                  None)
    if record is None or repo.latest(store, record.name).id != record.id:
        return None
    pairs = [p for p in load_pairs(store, record.name)
             if p.kind == "twin" or p.release_id == candidate]
    report = build_report(pairs, name=record.name, shed=record.shed,
                          over_budget=record.over_budget, similarity=similarity_of(record))
    doc = report.to_json()
    return ShadowSummary(record.name, report.candidate_pairs, report.verdict_line,
                         shifts_from(doc.get("classes") or []))


__all__ = ["feature_plans", "plan_cmd", "shadow_summary"]
