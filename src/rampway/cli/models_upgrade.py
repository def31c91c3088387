"""`rampway models upgrade`: a candidate on the successor model, stored as a draft and gated.

    rampway models upgrade support-bot                    # successor from the catalog
    rampway models upgrade support-bot --to sim-large-2 --out upgrades --json
    rampway models upgrade --all-due --within 90d         # every feature on a model going away

Per feature: the candidate (production's release with the model swapped, see
`rampway.lifecycle.upgrade`) is written to `OUT/<feature>/` (release files, UPGRADE.md,
GATE.md and transition-flags.yaml: the old release pinned for `--opt-out` units until
`--pin-until` or the old model's retirement), published
to the store as a draft (on no channel) and gated against production on the full suite with
repeats (`--no-gate` skips that; then a suite is not required). Exit codes as
`rampway gate`: 0 pass, 1 fail (or, with --all-due, a feature that cannot be upgraded), 3
inconclusive, 2 bad input — one line on stderr, nothing written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    current_actor,
    emit_json,
    fail,
    handle_errors,
    load_project_option,
)
from rampway.cli.eval import ConcurrencyOption, RepeatsOption, SimOption
from rampway.cli.models import models_app, parse_day, parse_window, project_catalog
from rampway.cli.release import open_store, store_exists
from rampway.errors import ConfigError

if TYPE_CHECKING:  # the upgrade pulls releases, templates and the gate: loaded when it runs
    from rampway.config import Project
    from rampway.gate.report import GateReport
    from rampway.lifecycle import UpgradePlan
    from rampway.providers.catalog import Catalog
    from rampway.release import Release
    from rampway.store import Store

DEFAULT_OUT = "upgrades"


@dataclass(slots=True)
class _Planned:
    plan: UpgradePlan
    target: Path
    baseline: str | None  # None: the production channel
    new: bool = False
    gate: GateReport | None = None


@models_app.command("upgrade")
@handle_errors
def upgrade_cmd(
    feature: Annotated[str | None, typer.Argument(help="Feature to upgrade.")] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Target MODEL or PROVIDER/MODEL (default: the "
                                              "catalog's successor).")
    ] = None,
    all_due: Annotated[
        bool, typer.Option("--all-due", help="Every feature whose model goes away in --within.")
    ] = False,
    within: Annotated[str, typer.Option("--within", help="Window: 90d, 12w, 6m, 1y.")] = "90d",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Today (YYYY-MM-DD).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help=f"Directory for the candidates (default: "
                                                f"{DEFAULT_OUT}/ in the project).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier candidate.")] = False,
    no_gate: Annotated[bool, typer.Option("--no-gate", help="Do not run the gate.")] = False,
    opt_out: Annotated[
        list[str] | None, typer.Option("--opt-out", help="A unit (user/session id) that keeps "
                                                         "the old release; repeatable.")
    ] = None,
    pin_until: Annotated[
        str | None, typer.Option("--pin-until", help="Last day + 1 (YYYY-MM-DD) the --opt-out "
                                                     "pin applies (default: the old model's "
                                                     "retirement).")
    ] = None,
    repeats: RepeatsOption = None,
    concurrency: ConcurrencyOption = 16,
    sim_inprocess: SimOption = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make the upgrade candidate(s), store them as drafts and gate them against production."""
    if (feature is None) == (not all_due):
        fail("give a FEATURE or --all-due (exactly one)")
    if all_due and to is not None:
        fail("--to names one model: use it with a FEATURE, not --all-due")
    today = parse_day(as_of)
    until = None if pin_until is None else parse_day(pin_until, "--pin-until")
    horizon = today + dt.timedelta(days=parse_window(within))
    proj = load_project_option(project)
    root = (out if out is not None else proj.root / DEFAULT_OUT).resolve()
    planned, blocked = _plan_all(proj, feature, to, today, horizon, root, no_gate, force, until)
    if feature is not None and blocked:
        raise ConfigError(blocked[0][1])
    _carry_out(proj, planned, no_gate, (repeats, concurrency, sim_inprocess), opt_out or [],
               until)
    _report(planned, blocked, as_json)
    codes = [p.gate.decision.verdict.exit_code for p in planned if p.gate is not None]
    code = max(codes, default=0)
    raise typer.Exit(code if code or not blocked else 1)


def _plan_all(
    proj: Project,
    feature: str | None,
    to: str | None,
    today: dt.date,
    horizon: dt.date,
    root: Path,
    no_gate: bool,
    force: bool,
    until: dt.date | None = None,
) -> tuple[list[_Planned], list[tuple[str, str]]]:
    """Every plan, checked before anything is written; (feature, why) for those that can't."""
    from rampway.evals.suite import require_suite
    from rampway.lifecycle import plan_upgrade, production_release
    from rampway.lifecycle.candidate import pin_end
    from rampway.release import check_release

    catalog = project_catalog(proj)
    kinds = {name: cfg.kind for name, cfg in proj.config.providers.items()}
    planned: list[_Planned] = []
    blocked: list[tuple[str, str]] = []
    with maybe_store(proj) as store:
        names = [feature] if feature is not None else candidate_features(proj, store)
        for name in names:
            try:
                base, source = production_release(proj, store, name)
                if feature is None and not _due(base, catalog, kinds, horizon):
                    continue
                plan = plan_upgrade(base, catalog, kinds, today=today, horizon=horizon, to=to)
                check_release(proj, plan.candidate)
                pin_end(plan, until)
                if not no_gate:
                    _require_suite(require_suite, proj, name)
                target = root / name
                if target.exists() and any(target.iterdir()) and not force:
                    raise ConfigError(f"{target} already holds files; pass --force to replace "
                                      "them")
            except ConfigError as exc:
                blocked.append((name, exc.message))
                continue
            baseline = None if source.endswith("channel") else str(proj.root / source)
            planned.append(_Planned(plan, target, baseline))
    return planned, blocked


def _require_suite(require: Any, proj: Project, feature: str) -> None:
    try:
        require(proj.root, feature)
    except ConfigError as exc:
        if not exc.message.startswith("no eval suite"):
            raise
        raise ConfigError(f"{feature}: no suite: the upgrade cannot be verified "
                          f"(add evals/{feature}/suite.yaml, or pass --no-gate)") from None


@contextmanager
def maybe_store(proj: Project) -> Iterator[Store | None]:
    """The store when it exists (planning must not create a database), else None."""
    if not store_exists(proj):
        yield None
        return
    with open_store(proj) as store:
        yield store


def candidate_features(proj: Project, store: Store | None) -> list[str]:
    from rampway.release import discover

    names = set(discover(proj.root))
    if store is not None:
        names |= {c.feature for c in store.list_channels() if c.channel == "production"}
    return sorted(names)


def _due(base: Release, catalog: Catalog, kinds: Mapping[str, str], horizon: dt.date) -> bool:
    for provider, model in base.models:
        info = catalog.find(provider, model) or catalog.find(kinds.get(provider, ""), model)
        if info is not None and info.sunsets_by(horizon):
            return True
    return False


def _carry_out(
    proj: Project,
    planned: list[_Planned],
    no_gate: bool,
    run: tuple[int | None, int, bool],
    opt_out: list[str],
    until: dt.date | None = None,
) -> None:
    """Write the files, store the drafts, then gate each candidate against production."""
    from rampway.lifecycle import store_draft, write_candidate
    from rampway.store import Store

    if not planned:
        return
    actor = current_actor()
    store = Store.open(proj.db_url)
    try:
        for item in planned:
            write_candidate(item.plan, item.target, replace=True, opt_out=opt_out, until=until)
            item.new = store_draft(store, item.plan, actor=actor)
        if not no_gate:
            import asyncio  # here, not at the top: `rampway --help` imports this module

            asyncio.run(_gate_each(proj, store, planned, *run, actor))
    finally:
        store.close()


async def _gate_each(
    proj: Project,
    store: Store,
    planned: list[_Planned],
    repeats: int | None,
    concurrency: int,
    sim_inprocess: bool,
    actor: str,
) -> None:
    """The gate's own code path (`gate_feature`): recorded in the store like `rampway gate`."""
    from rampway.cli.eval import gate_context
    from rampway.evals.runner import RunOptions
    from rampway.gate.report import markdown
    from rampway.gate.run import gate_feature

    options = RunOptions(repeats=repeats, concurrency=concurrency)
    async with gate_context(proj, store, sim_inprocess, None) as ctx:
        ctx.actor = actor
        for item in planned:
            item.gate = await gate_feature(ctx, item.plan.feature, str(item.target),
                                           item.baseline, options)
            (item.target / "GATE.md").write_text(markdown(item.gate) + "\n", encoding="utf-8")


def _report(planned: list[_Planned], blocked: list[tuple[str, str]], as_json: bool) -> None:
    if as_json:
        emit_json({
            "upgrades": [{**p.plan.to_json(), "directory": str(p.target),
                          "draft": "new" if p.new else "unchanged",
                          "gate": None if p.gate is None else p.gate.to_json()}
                         for p in planned],
            "blocked": [{"feature": f, "reason": why} for f, why in blocked],
        })
        return
    for p in planned:
        console.print(f"{p.plan.feature}: {p.plan.description}", markup=False)
        console.print(f"  candidate {p.plan.candidate.id} (draft in the store, on no channel) "
                      f"→ {p.target}", markup=False)
        for w in p.plan.warnings:
            console.print(f"  warning: {w}", markup=False)
        if p.gate is not None:
            d = p.gate.data
            console.print(f"  gate vs {d.baseline}: {p.gate.decision.verdict.value.upper()} "
                          f"({d.n_cases} cases × {d.repeats} repeats; report in "
                          f"{p.target / 'GATE.md'})", markup=False)
    for name, why in blocked:
        console.print(f"{name}: blocked: {why}", markup=False)
    if not planned and not blocked:
        console.print("ok: no feature uses a model going away in the window")


__all__ = ["candidate_features", "maybe_store", "upgrade_cmd"]
