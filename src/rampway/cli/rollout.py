"""`rampway rollout …` and `rampway controller`: staged rollouts from the command line.

    rampway gate support-bot --candidate HEAD               # records the gate decision
    rampway rollout start support-bot --candidate HEAD [--plan rollouts/support-bot.yaml]
    rampway rollout start support-bot --candidate HEAD --skip-gate --reason "P0 hotfix"
    rampway rollout status support-bot [--json]
    rampway rollout pause|resume|approve support-bot --reason "…"
    rampway rollout promote support-bot --reason "hotfix, skip the ramp"
    rampway rollout abort|rollback support-bot --reason "…"
    rampway rollout list [FEATURE] [--active]
    rampway rollout status support-bot --server http://gw:8787   # any of them, via a server
    rampway controller [--interval 60] [--once]

`rollout start` requires a recorded PASS gate of the candidate against the release the plan's
baseline channel (default `production`) serves now; `--skip-gate --reason` overrides it, and
the override is audited. A feature whose baseline channel is not set yet has no release to
gate against or to compare traffic with: its first release goes live with `rampway channel
set FEATURE production REF`, and rollouts start from the second one.

Every command talks to the store directly, or with `--server URL` to a running server's admin
API (admin key in $RAMPWAY_API_KEY; the server checks its role and audits under its name),
printing the same text and `--json` either way. Transitions are the controller's own (same
compare-and-swap), so a command and a running controller never both apply a change. Through
a server, `start` names the candidate as locally: a release directory of the local project
(or a git revision) is sent as canonical text, published by the server only once the start
is accepted; anything else is resolved by the server (a channel or a published release); the
plan is `--plan`, else the local rollouts/FEATURE.yaml, else the server's.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
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
    err_console,
    fail,
    handle_errors,
    load_project_option,
)
from rampway.cli._refs import local_project, routable_release
from rampway.cli._remote import ServerOption, admin_client
from rampway.cli.release import open_store, store_exists
from rampway.errors import ConfigError, RefError

if TYPE_CHECKING:  # the controller and its judge pull numpy/scipy: imported by the commands
    from rampway.admin.client import AdminClient
    from rampway.config import Project
    from rampway.rollout import Controller
    from rampway.rollout.plan import Plan
    from rampway.store import Store

rollout_app = typer.Typer(help="Staged rollouts: 1% → 100% with guardrails.",
                          no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")

FeatureArg = Annotated[str, typer.Argument(help="Feature name, e.g. support-bot.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _controller(proj: Project, store: Store, interval: float | None = None, *,
                retention: bool = False) -> Controller:
    """The controller for a command; `retention`: it also applies gateway.events.retention
    (the long-running `rampway controller`, when it holds the fleet lease)."""
    from rampway.rollout import Controller, Notifier
    from rampway.rollout.plan import settings_from

    settings = settings_from(proj.config.rollouts, str(proj.config_path))
    job = None
    if retention:
        from rampway.events.retention import job_for
        from rampway.gateway.settings import GatewaySettings

        job = job_for(store, GatewaySettings.from_config(proj.config.gateway).events.retention)
    return Controller(store, notifier=Notifier(settings.webhooks),
                      interval=interval or settings.interval, project_root=proj.root,
                      retention=job)


@rollout_app.command("start")
@handle_errors
def start_cmd(
    feature: FeatureArg,
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="Release: id, channel, path or git rev.")
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Plan file (default rollouts/FEATURE.yaml).")
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (audit log); required with --skip-gate.")
    ] = "",
    skip_gate: Annotated[
        bool,
        typer.Option("--skip-gate", help="Start without a recorded PASS gate (audited)."),
    ] = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start rolling CANDIDATE out to FEATURE's users, step by step.

    Needs a recorded PASS of `rampway gate FEATURE --candidate REF` against the release the
    baseline channel serves. The first release of a feature is not rolled out: set it with
    `rampway channel set FEATURE production REF`.
    """
    from rampway.rollout import plan_for
    from rampway.rollout.views import brief_json, brief_of

    if server:
        with admin_client(server) as client:
            doc = _start_remote(client, feature, candidate, plan_file, reason, skip_gate, project)
        _report(brief_of(doc), "started", as_json)
        return
    proj = load_project_option(project)
    plan = plan_for(proj.root, feature, plan_file)
    ref = _candidate_ref(candidate, plan)
    actor = current_actor()
    if not store_exists(proj):
        # Nothing can serve as the baseline yet; refused before a database is created.
        fail(f"no '{plan.baseline}' channel to roll out from; set it first (rampway channel "
             f"set {feature} {plan.baseline} REF)")
    with open_store(proj) as store:
        controller = _controller(proj, store)
        release = routable_release(proj, feature, ref, store)
        controller.check_start(feature, release.id, plan, published=False, skip_gate=skip_gate,
                               reason=reason, candidate_ref=ref)
        store.publish(release.feature, release.digest, release.id, release.canonical, actor=actor,
                      reason=reason.strip() or f"roll out {release.id}")  # as start words it
        rollout = controller.start(feature, release.id, plan=plan, actor=actor, reason=reason,
                                   skip_gate=skip_gate)
        controller.notifier.close()
    _report(brief_json(rollout), "started", as_json)


def _candidate_ref(candidate: str | None, plan: Plan | None) -> str:
    ref = candidate or (None if plan is None else plan.candidate)
    if not ref:
        raise ConfigError("say which release to roll out: --candidate REF (or candidate: in plan)")
    return ref


def _start_remote(
    client: AdminClient, feature: str, candidate: str | None, plan_file: Path | None,
    reason: str, skip_gate: bool, project: Path | None,
) -> dict[str, Any]:
    """`rollout start` through the admin API (see the module docstring for what is sent)."""

    from rampway.release._refs import release_dir_for

    proj = local_project(project)
    plan = _local_plan(proj, feature, plan_file)
    ref = _candidate_ref(candidate, plan)
    body: dict[str, Any] = {"plan": None if plan is None else plan.to_json(),
                            "reason": reason, "skip_gate": skip_gate}
    if proj is None or release_dir_for(proj, ref) is None:
        found = client.find_release(feature, ref)
        if found is not None:
            return client.start_rollout(feature, found, **body)
        if proj is None:
            raise RefError(f"unknown ref {ref!r} for feature {feature!r}: not a channel or "
                           "release on the server, and no local project to look in")
    release = routable_release(proj, feature, ref)
    return client.start_rollout(feature, ref, canonical=release.canonical, **body)


def _local_plan(proj: Project | None, feature: str, plan_file: Path | None) -> Plan | None:
    """`--plan`, else the local rollouts/FEATURE.yaml; None leaves it to the server."""
    from rampway.rollout import plan_for
    from rampway.rollout.plan import ROLLOUTS_DIR

    if plan_file is not None:
        return plan_for(Path.cwd() if proj is None else proj.root, feature, plan_file)
    if proj is not None and (proj.root / ROLLOUTS_DIR / f"{feature}.yaml").is_file():
        return plan_for(proj.root, feature)
    return None


def _command(name: str, feature: str, reason: str, project: Path | None, as_json: bool,
             server: str | None) -> None:
    from rampway.rollout.views import brief_json, brief_of

    if not reason.strip():  # the controller's own check, made before either path
        raise ConfigError("a reason is required (it goes to the audit log)")
    if server:
        with admin_client(server) as client:
            brief = brief_of(client.rollout_command(feature, name, reason=reason))
        _report(brief, name, as_json)
        return
    proj = load_project_option(project)
    with open_store(proj) as store:
        controller = _controller(proj, store)
        rollout = controller.command(feature, name, actor=current_actor(), reason=reason)
        controller.notifier.close()
    _report(brief_json(rollout), name, as_json)


@rollout_app.command("pause")
@handle_errors
def pause_cmd(feature: FeatureArg, reason: ReasonOption, server: ServerOption = None,
              project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Stop advancing (the candidate keeps its current weight; critical guardrails still act)."""
    _command("pause", feature, reason, project, as_json, server)


@rollout_app.command("resume")
@handle_errors
def resume_cmd(feature: FeatureArg, reason: ReasonOption, server: ServerOption = None,
               project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Continue a paused rollout (the step's clock and data window restart)."""
    _command("resume", feature, reason, project, as_json, server)


@rollout_app.command("approve")
@handle_errors
def approve_cmd(feature: FeatureArg, reason: ReasonOption, server: ServerOption = None,
                project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Let a rollout waiting for approval enter its next step."""
    _command("approve", feature, reason, project, as_json, server)


@rollout_app.command("promote")
@handle_errors
def promote_cmd(feature: FeatureArg, reason: ReasonOption, server: ServerOption = None,
                project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Skip to 100%: the baseline channel moves to the candidate now."""
    _command("promote", feature, reason, project, as_json, server)


@rollout_app.command("abort")
@handle_errors
def abort_cmd(feature: FeatureArg, reason: ReasonOption, server: ServerOption = None,
              project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Stop the rollout: candidate weight 0, production untouched."""
    _command("abort", feature, reason, project, as_json, server)


@rollout_app.command("rollback")
@handle_errors
def rollback_cmd(feature: FeatureArg, reason: ReasonOption, server: ServerOption = None,
                 project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Roll the candidate back: weight 0 in every gateway within a second."""
    _command("rollback", feature, reason, project, as_json, server)


@rollout_app.command("status")
@handle_errors
def status_cmd(feature: FeatureArg, server: ServerOption = None, project: ProjectOption = None,
               as_json: JsonOption = False) -> None:
    """Steps, current weight, and every guardrail's estimate, interval and verdict."""
    if server:
        with admin_client(server) as client:
            doc, _ = client.rollout_status(feature)
    else:
        doc = _local_status(feature, project)
    if as_json:
        emit_json(doc)
        return
    render_status(doc)


def _local_status(feature: str, project: Path | None) -> dict[str, Any]:
    from rampway.rollout import repo
    from rampway.rollout.views import rollout_json

    proj = load_project_option(project)
    if not store_exists(proj):
        raise ConfigError(f"feature {feature!r} has no rollouts")
    with open_store(proj) as store:
        rollout = repo.latest(store, feature)
        if rollout is None:
            raise ConfigError(f"feature {feature!r} has no rollouts")
        evaluation = rollout.evaluation
        if rollout.status.active:
            from rampway.events.clickhouse.backend import EventsUnavailable

            controller = _controller(proj, store)
            try:  # the events' store (ClickHouse with `events:`) is opened by the look
                fresh = controller.evaluate(rollout)
            except EventsUnavailable as exc:  # chdb held by the serving gateway
                err_console.print(f"note: {exc.message}; showing the last look's evaluation",
                                  markup=False)
                fresh = None
            finally:
                controller.close()
            evaluation = evaluation if fresh is None else fresh.as_dict()
    return rollout_json(rollout, evaluation)


@rollout_app.command("list")
@handle_errors
def list_cmd(
    feature: Annotated[str | None, typer.Argument(help="Only this feature's rollouts.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only unfinished rollouts.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-1000).")] = 100,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rollouts, newest first (one feature's with FEATURE, unfinished ones with --active)."""
    from rampway.rollout import repo
    from rampway.rollout.views import listing_json

    if not 1 <= limit <= 1000:
        raise ConfigError("--limit must be between 1 and 1000")
    if server:
        with admin_client(server) as client:
            found = client.list_rollouts(feature, active=active, limit=limit)
    else:
        proj = load_project_option(project)
        found = []
        if store_exists(proj):
            with open_store(proj) as store:
                found = [listing_json(r) for r in repo.recent(store, feature, limit,
                                                             active=active)]
    if as_json:
        emit_json({"rollouts": found})
        return
    if not found:
        console.print("no rollouts")
    for r in found:
        console.print(f"{r['feature']}#{r['id']} {r['status']} at {r['weight_pct']:g}% — "
                      f"candidate {r['candidate']} vs {r['baseline']}: {r['reason']}",
                      markup=False)


@app.command("controller")
@handle_errors
def controller_cmd(
    interval: Annotated[
        float | None, typer.Option(help="Seconds between looks (default rollouts.interval: 60).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Look once and exit.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the rollout controller: judge every active rollout, advance / pause / roll back."""
    import asyncio

    from rampway.rollout.views import brief_json

    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise ConfigError("--interval must be a positive number of seconds")
    proj = load_project_option(project)
    with open_store(proj) as store:
        controller = _controller(proj, store, interval, retention=not once)
        try:
            if once:
                moved = controller.tick()
                if as_json:
                    emit_json({"moved": [brief_json(r) for r in moved]})
                for r in [] if as_json else moved:
                    console.print(f"{r.ref}: {r.status.value} at {r.weight_bp / 100:g}% "
                                  f"({r.reason})")
                return
            console.print(f"rollout controller: looking every {controller.interval:g}s "
                          "(Ctrl-C to stop)")
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(controller.run())
        finally:
            controller.notifier.close()
            controller.close()


# -- output -----------------------------------------------------------------------------------


def _report(r: dict[str, Any], what: str, as_json: bool) -> None:
    """A command's answer (`brief_json`), the same whether it came from the store or a server."""
    from rampway.rollout.gating import describe

    if as_json:
        emit_json(r)
        return
    console.print(f"[bold]{r['feature']}#{r['id']}[/] {what}: {r['status']}, candidate "
                  f"{r['candidate']} at {r['weight_pct']:g}% (baseline {r['baseline']}); "
                  f"gate: {escape(describe(r['gate']))}")


def _fmt(value: Any, scale: str) -> str:
    if value is None:
        return "–"
    if scale == "relative":
        return f"{value * 100:+.1f}%"
    return f"{value:+.4g}"


def _value(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}"


def render_status(doc: dict[str, Any]) -> None:
    from rich.table import Table

    from rampway.rollout.gating import describe
    from rampway.rollout.verdicts import describe_srm

    console.print(f"[bold]{doc['feature']}#{doc['id']}[/] {doc['status']} — candidate "
                  f"{doc['candidate']} at [bold]{doc['weight_pct']:g}%[/] vs {doc['baseline']} "
                  f"({doc['baseline_channel']})")
    console.print(f"reason: {doc['reason']}", markup=False)
    console.print(f"gate: {describe(doc.get('gate'))}", markup=False)
    steps = Table(title="steps")
    for column in ("", "weight", "dwell", "approval"):
        steps.add_column(column)
    for s in doc["steps"]:
        steps.add_row("▶" if s["current"] else "", f"{s['weight_pct']:g}%",
                      f"{s['dwell_s']:g}s", "yes" if s["approval"] else "")
    console.print(steps)
    evaluation = doc.get("evaluation")
    if not evaluation:
        console.print("no guardrail evaluation yet")
        return
    console.print(f"judge: [bold]{evaluation['action']}[/] — {escape(evaluation['reason'])}")
    srm = evaluation.get("srm")
    if srm:
        console.print(f"sample ratio: {srm['verdict']} — {describe_srm(srm)}", markup=False)
    table = Table(title="guardrails")
    for column in ("metric", "verdict", "baseline", "candidate", "change", "interval",
                   "limit", "n (base/cand)", "units"):
        table.add_column(column)
    margins = {g["metric"]: g for g in doc.get("plan", {}).get("guardrails", [])}
    quantiles = False
    for g in evaluation["guardrails"]:
        label = g["metric"] + (" (critical)" if g["critical"] else "")
        if g["scale"] == "exceedance":
            quantiles = True
            cells = _quantile_cells(g, margins.get(g["metric"]))
        else:
            scale = g["scale"]
            cells = (_value(g["baseline_value"]), _value(g["candidate_value"]),
                     _fmt(g["estimate"], scale),
                     f"[{_fmt(g['lower'], scale)}, {_fmt(g['upper'], scale)}]",
                     _fmt(g["limit"], scale))
        table.add_row(label, g["verdict"], *cells, f"{g['n_baseline']}/{g['n_candidate']}",
                      f"{g.get('units_baseline', 0)}/{g.get('units_candidate', 0)}")
    console.print(table)
    unit = (doc.get("plan") or {}).get("unit", "user")
    console.print(f"intervals are over units ({unit}s), always valid under repeated looks: pass "
                  "when the interval excludes harm beyond the limit, fail when it lies wholly "
                  "beyond it, otherwise the step holds (and pauses for a human after its "
                  "max dwell)")
    if quantiles:
        console.print("latency quantiles: the candidate may not exceed the limit more often "
                      "than the baseline exceeds its own quantile; the interval (pts) is that "
                      "difference in the share of requests")


def _quantile_cells(g: dict[str, Any], guardrail: dict[str, Any] | None) -> tuple[str, ...]:
    """A latency guardrail in its own unit (ms), with the limit as a threshold in ms; the
    interval is what the judge tests: extra share of the candidate's requests beyond it."""
    from rampway.rollout.metrics import metric_def

    unit = metric_def(g["metric"]).unit
    base, cand = g["baseline_value"], g["candidate_value"]
    if base is None or cand is None:
        return ("–", "–", "–", "–", "–")
    change = f"{cand - base:+.0f} {unit}"
    if base:
        change += f" ({(cand / base - 1) * 100:+.1f}%)"
    limit = "–"
    if guardrail is not None:
        from rampway.rollout._judge import candidate_threshold
        from rampway.rollout.plan import Guardrail

        bound = candidate_threshold(base, Guardrail.model_validate(guardrail))
        limit = f"{'≤' if g['bad'] == 'increase' else '≥'} {bound:.0f} {unit}"
    interval = f"[{g['lower'] * 100:+.1f}, {g['upper'] * 100:+.1f}] pts"
    return (f"{base:.0f} {unit}", f"{cand:.0f} {unit}", change, interval, limit)


__all__ = ["rollout_app"]
