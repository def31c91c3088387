"""`rampway experiment …`: A/B experiments from the command line.

    rampway experiment validate [NAME]            # experiments/NAME.yaml (all when omitted)
    rampway experiment start NAME --reason "Q3 tone test"
    rampway experiment start NAME --skip-gate --reason "gate infra down"   # audited override
    rampway experiment status NAME                # arms, split, exposure so far
    rampway experiment analyze NAME               # the statistics over the event log
    rampway experiment stop NAME --reason "enough data"
    rampway experiment list

`start` resolves each arm's `release` (a channel, a release id or prefix, a release directory,
a git revision) to one release id — refused unless the gateway can route it, and, for an arm
not serving production's release, unless it has a recorded gate PASS against production (as
`rollout start` requires; see `rampway.experiments.gating`) — publishes releases the store
does not have yet, and starts serving the split in every gateway within a second. Refused,
with nothing written, while the feature has an active rollout or another running experiment.
`stop` returns every unit to production and keeps the record: `status` and `analyze` keep
working on the stopped window.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    current_actor,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.cli._refs import routable_release
from rampway.cli.release import open_store, store_exists
from rampway.errors import ConfigError, RefError

if TYPE_CHECKING:  # experiments load pydantic and the store: imported by the commands
    from rampway.config import Project
    from rampway.experiments import ExperimentRecord
    from rampway.experiments.spec import Definition

experiment_app = typer.Typer(help="A/B experiments: arms served side by side, then analysed.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")

NameArg = Annotated[str, typer.Argument(help="Experiment name: experiments/NAME.yaml.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _definition(proj: Project, name: str) -> Definition:
    from rampway.experiments.spec import check_name, definition_path, load_definition

    return load_definition(definition_path(proj.root, check_name(name)))


def _never(name: str) -> RefError:
    from rampway.experiments.spec import check_name

    return RefError(f"no experiment {check_name(name)!r} was ever started")


def _latest(proj: Project, name: str) -> tuple[ExperimentRecord, dict[str, dict[str, int]]]:
    """The latest experiment called `name` and its exposure so far."""
    from rampway.experiments import repo

    if not store_exists(proj):
        raise _never(name)
    with open_store(proj) as store:
        record = repo.latest(store, name)
        return record, repo.exposure(store, record, time.time())


@experiment_app.command("validate")
@handle_errors
def validate_cmd(
    name: Annotated[str | None, typer.Argument(help="One experiment (default: all).")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check experiment files (names, arms, weights, metrics) without touching the store."""
    from rampway.experiments.spec import check_name, definition_names

    proj = load_project_option(project)
    names = [check_name(name)] if name is not None else definition_names(proj.root)
    if not names:
        raise ConfigError(f"no experiments in {proj.root / 'experiments'} (*.yaml)")
    checked = [(n, _definition(proj, n)) for n in names]
    if as_json:
        emit_json({"valid": True, "experiments": [_definition_json(n, d) for n, d in checked]})
        return
    for n, d in checked:
        arms = ", ".join(f"{a.name} ({a.release}) {w / 100:g}%"
                         for a, w in zip(d.arms, d.weights_bp(), strict=True))
        console.print(f"[green]ok[/] {escape(n)}: {escape(d.feature)} — {escape(arms)}; "
                      f"coverage {d.coverage:g}%, primary {escape(d.primary)}")


@experiment_app.command("start")
@handle_errors
def start_cmd(
    name: NameArg,
    reason: Annotated[str, typer.Option(
        "--reason", help="Why (audit log); required with --skip-gate.")] = "",
    skip_gate: Annotated[bool, typer.Option(
        "--skip-gate", help="Start arms without a recorded PASS gate (audited).")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start serving the arms of experiments/NAME.yaml (releases resolved to ids now).

    Each arm not serving production's release needs a recorded PASS of `rampway gate FEATURE
    --candidate REF` against production, as `rollout start` does; `--skip-gate --reason`
    overrides, audited."""
    from rampway.experiments import repo
    from rampway.experiments.gating import require_arm_gates

    proj = load_project_option(project)
    definition = _definition(proj, name)
    actor = current_actor()
    with open_store(proj) as store:
        releases = [routable_release(proj, definition.feature, arm.release, store)
                    for arm in definition.arms]
        # everything that could refuse is checked before the first write (publishing)
        repo.check_channels(store, definition)
        repo.check_can_start(store, name, definition.feature)
        gates = require_arm_gates(
            store, definition.feature,
            [(a.name, r.id, a.release) for a, r in zip(definition.arms, releases, strict=True)],
            project_root=proj.root, skip_reason=reason if skip_gate else None)
        for release in releases:
            store.publish(release.feature, release.digest, release.id, release.canonical,
                          actor=actor, reason=f"experiment {name}")
        record = repo.start(store, name, definition, [r.id for r in releases], actor=actor,
                            reason=reason.strip() or f"start experiment {name}", now=time.time(),
                            gates=gates)
    _report(record, "started", as_json)


@experiment_app.command("stop")
@handle_errors
def stop_cmd(
    name: NameArg,
    reason: ReasonOption = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the experiment: every unit gets production again; the record stays for analysis."""
    from rampway.experiments import repo

    proj = load_project_option(project)
    if not store_exists(proj):
        raise _never(name)
    with open_store(proj) as store:
        record = repo.stop(store, repo.latest(store, name), actor=current_actor(),
                           reason=reason.strip() or f"stop experiment {name}", now=time.time())
    _report(record, "stopped", as_json)


@experiment_app.command("list")
@handle_errors
def list_cmd(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Experiments in the store (newest first), and the project's files never started."""
    from rich.table import Table

    from rampway.experiments import repo
    from rampway.experiments.spec import definition_names

    proj = load_project_option(project)
    records: list[ExperimentRecord] = []
    if store_exists(proj):
        with open_store(proj) as store:
            records = repo.recent(store, limit=1000)
    started = {r.name for r in records}
    defined = [n for n in definition_names(proj.root) if n not in started]
    if as_json:
        emit_json({"experiments": [_brief(r) for r in records], "never_started": defined})
        return
    if not records:
        console.print("no experiments started yet")
    else:
        table = Table()
        for column in ("id", "name", "feature", "status", "arms", "coverage", "started",
                       "stopped"):
            table.add_column(column)
        for r in records:
            brief = _brief(r)
            table.add_row(str(r.id), r.name, r.feature, r.status,
                          ", ".join(f"{a.name} {a.weight_bp / 100:g}%" for a in r.arms),
                          f"{r.coverage_bp / 100:g}%", brief["started_at"][:19],
                          (brief["stopped_at"] or "")[:19])
        console.print(table)
    if defined:
        console.print(f"never started: {escape(', '.join(defined))}")


@experiment_app.command("status")
@handle_errors
def status_cmd(name: NameArg, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Arms, releases, split, coverage and the exposure so far (requests and units per arm)."""
    proj = load_project_option(project)
    record, exposure = _latest(proj, name)
    doc = {**record.to_json(), "exposure": exposure,
           "runtime_s": _runtime(record, time.time())}
    if as_json:
        emit_json(doc)
        return
    _render_status(record, doc)


@experiment_app.command("analyze")
@handle_errors
def analyze_cmd(name: NameArg, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """The statistics: every metric per arm against the control, intervals, verdicts."""
    from rampway.events.clickhouse import open_events
    from rampway.experiments import repo
    from rampway.experiments.analysis import analyze
    from rampway.experiments.report import render_text, to_json

    proj = load_project_option(project)
    if not store_exists(proj):
        raise _never(name)
    with open_store(proj) as store:
        record = repo.latest(store, name)
        events = open_events(proj)  # None: the events are in the store
        try:
            report = analyze(events or store, record)
        finally:
            if events is not None:
                events.close()
    if as_json:
        emit_json(to_json(report))
        return
    console.print(render_text(report), markup=False, highlight=False)


# -- output -----------------------------------------------------------------------------------


def _definition_json(name: str, d: Definition) -> dict[str, Any]:
    return {"name": name, "feature": d.feature,
            "arms": [{"name": a.name, "release": a.release, "weight_pct": w / 100}
                     for a, w in zip(d.arms, d.weights_bp(), strict=True)],
            "coverage_pct": d.coverage, "unit": d.unit, "primary": d.primary,
            "secondary": d.secondary,
            "guardrails": [{"metric": g.metric, "bad": g.bad} for g in d.guardrails],
            "alpha": d.alpha, "min_runtime_s": d.min_runtime}


def _brief(r: ExperimentRecord) -> dict[str, Any]:
    doc = r.to_json()
    doc.pop("definition")
    return doc


def _runtime(r: ExperimentRecord, now: float) -> float:
    return (r.stopped_at if r.stopped_at is not None else now) - r.started_at


def _report(r: ExperimentRecord, what: str, as_json: bool) -> None:
    if as_json:
        emit_json(_brief(r))
        return
    arms = ", ".join(f"{a.name} → {a.release_id} ({a.weight_bp / 100:g}%)" for a in r.arms)
    console.print(f"[bold]{escape(r.name)}#{r.id}[/] {what} on {escape(r.feature)}: "
                  f"{escape(arms)}; coverage {r.coverage_bp / 100:g}%")


def _render_status(r: ExperimentRecord, doc: dict[str, Any]) -> None:
    from rich.table import Table

    from rampway.experiments._duration import duration_text

    about = f" — {escape(r.description)}" if r.description else ""
    console.print(f"[bold]{escape(r.name)}#{r.id}[/] {r.status} on {escape(r.feature)} "
                  f"(unit: {r.unit}){about}")
    window = f"started {doc['started_at'][:19]} by {escape(r.actor)}"
    if r.stopped_at is not None:
        window += f", stopped {doc['stopped_at'][:19]} by {escape(r.stopped_by or '')}"
    runtime = doc["runtime_s"]
    early = " (under min_runtime: too early to call)" if runtime < r.min_runtime_s else ""
    console.print(f"{window}; ran {duration_text(runtime)} of at least "
                  f"{duration_text(r.min_runtime_s)}{early}")
    table = Table(title=f"arms (coverage {r.coverage_bp / 100:g}%)")
    for column in ("arm", "release", "weight", "requests", "units"):
        table.add_column(column)
    for i, a in enumerate(r.arms):
        seen = doc["exposure"][a.name]
        role = " (control)" if i == 0 and a.name != "control" else ""
        table.add_row(a.name + role, a.release_id,
                      f"{a.weight_bp / 100:g}%", str(seen["requests"]), str(seen["units"]))
    console.print(table)
    guardrails = ", ".join(f"{g.metric} (bad: {g.bad})" for g in r.guardrails) or "none"
    console.print(f"primary: {escape(r.primary)}; secondary: "
                  f"{escape(', '.join(r.secondary) or 'none')}; guardrails: {escape(guardrails)}")


__all__ = ["experiment_app"]
