"""`rampway rollout …` and `rampway controller`: staged rollouts from the command line.

    rampway gate support-bot --candidate HEAD               # records the gate decision
    rampway rollout start support-bot --candidate HEAD [--plan rollouts/support-bot.yaml]
    rampway rollout start support-bot --candidate HEAD --skip-gate --reason "P0 hotfix"
    rampway rollout status support-bot [--json]
    rampway rollout pause|resume|approve support-bot --reason "…"
    rampway rollout promote support-bot --reason "hotfix, skip the ramp"
    rampway rollout abort|rollback support-bot --reason "…"
    rampway controller [--interval 60] [--once]

`rollout start` requires a recorded PASS gate of the candidate against the release the plan's
baseline channel (default `production`) serves now; `--skip-gate --reason` overrides it, and
the override is audited. A feature whose baseline channel is not set yet has no release to
gate against or to compare traffic with: its first release goes live with `rampway channel
set FEATURE production REF`, and rollouts start from the second one.

Every command talks to the store directly; transitions are the controller's own (same
compare-and-swap), so a command and a running controller never both apply a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

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
from rampway.cli.release import open_store
from rampway.config import Project
from rampway.errors import ConfigError
from rampway.rollout import Controller, Notifier, RolloutRecord, plan_for, repo
from rampway.rollout.gating import describe
from rampway.rollout.plan import settings_from
from rampway.rollout.verdicts import describe_srm
from rampway.store import Store, parse_url

rollout_app = typer.Typer(help="Staged rollouts: 1% → 100% with guardrails.",
                          no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")

FeatureArg = Annotated[str, typer.Argument(help="Feature name, e.g. support-bot.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _controller(proj: Project, store: Store, interval: float | None = None) -> Controller:
    settings = settings_from(proj.config.rollouts, str(proj.config_path))
    return Controller(store, notifier=Notifier(settings.webhooks),
                      interval=interval or settings.interval, project_root=proj.root)


def _database_exists(proj: Project) -> bool:
    """Read-only commands must not create a SQLite file as a side effect."""
    url = parse_url(proj.db_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return True
    return database.startswith("file:") or Path(database).exists()


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
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start rolling CANDIDATE out to FEATURE's users, step by step.

    Needs a recorded PASS of `rampway gate FEATURE --candidate REF` against the release the
    baseline channel serves. The first release of a feature is not rolled out: set it with
    `rampway channel set FEATURE production REF`.
    """
    from rampway.release import check_release, resolve_ref
    from rampway.release._refs import release_dir_for

    proj = load_project_option(project)
    plan = plan_for(proj.root, feature, plan_file)
    ref = candidate or plan.candidate
    if not ref:
        raise ConfigError("say which release to roll out: --candidate REF (or candidate: in plan)")
    actor = current_actor()
    with open_store(proj) as store:
        controller = _controller(proj, store)
        release = resolve_ref(proj, feature, ref, store)
        check_release(proj, release, release_dir_for(proj, ref))
        controller.check_start(feature, release.id, plan, published=False, skip_gate=skip_gate,
                               reason=reason, candidate_ref=ref)
        store.publish(release.feature, release.digest, release.id, release.canonical, actor=actor)
        rollout = controller.start(feature, release.id, plan=plan, actor=actor, reason=reason,
                                   skip_gate=skip_gate)
        controller.notifier.close()
    _report(rollout, "started", as_json)


def _command(name: str, feature: str, reason: str, project: Path | None, as_json: bool) -> None:
    proj = load_project_option(project)
    with open_store(proj) as store:
        controller = _controller(proj, store)
        rollout = controller.command(feature, name, actor=current_actor(), reason=reason)
        controller.notifier.close()
    _report(rollout, name, as_json)


@rollout_app.command("pause")
@handle_errors
def pause_cmd(feature: FeatureArg, reason: ReasonOption, project: ProjectOption = None,
              as_json: JsonOption = False) -> None:
    """Stop advancing (the candidate keeps its current weight; critical guardrails still act)."""
    _command("pause", feature, reason, project, as_json)


@rollout_app.command("resume")
@handle_errors
def resume_cmd(feature: FeatureArg, reason: ReasonOption, project: ProjectOption = None,
               as_json: JsonOption = False) -> None:
    """Continue a paused rollout (the step's clock and data window restart)."""
    _command("resume", feature, reason, project, as_json)


@rollout_app.command("approve")
@handle_errors
def approve_cmd(feature: FeatureArg, reason: ReasonOption, project: ProjectOption = None,
                as_json: JsonOption = False) -> None:
    """Let a rollout waiting for approval enter its next step."""
    _command("approve", feature, reason, project, as_json)


@rollout_app.command("promote")
@handle_errors
def promote_cmd(feature: FeatureArg, reason: ReasonOption, project: ProjectOption = None,
                as_json: JsonOption = False) -> None:
    """Skip to 100%: the baseline channel moves to the candidate now."""
    _command("promote", feature, reason, project, as_json)


@rollout_app.command("abort")
@handle_errors
def abort_cmd(feature: FeatureArg, reason: ReasonOption, project: ProjectOption = None,
              as_json: JsonOption = False) -> None:
    """Stop the rollout: candidate weight 0, production untouched."""
    _command("abort", feature, reason, project, as_json)


@rollout_app.command("rollback")
@handle_errors
def rollback_cmd(feature: FeatureArg, reason: ReasonOption, project: ProjectOption = None,
                 as_json: JsonOption = False) -> None:
    """Roll the candidate back: weight 0 in every gateway within a second."""
    _command("rollback", feature, reason, project, as_json)


@rollout_app.command("status")
@handle_errors
def status_cmd(feature: FeatureArg, project: ProjectOption = None,
               as_json: JsonOption = False) -> None:
    """Steps, current weight, and every guardrail's estimate, interval and verdict."""
    proj = load_project_option(project)
    if not _database_exists(proj):
        raise ConfigError(f"feature {feature!r} has no rollouts")
    with open_store(proj) as store:
        rollout = repo.latest(store, feature)
        if rollout is None:
            raise ConfigError(f"feature {feature!r} has no rollouts")
        evaluation = rollout.evaluation
        if rollout.status.active:
            fresh = _controller(proj, store).evaluate(rollout)
            evaluation = evaluation if fresh is None else fresh.as_dict()
    doc = status_json(rollout, evaluation)
    if as_json:
        emit_json(doc)
        return
    render_status(doc)


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
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise ConfigError("--interval must be a positive number of seconds")
    proj = load_project_option(project)
    with open_store(proj) as store:
        controller = _controller(proj, store, interval)
        try:
            if once:
                moved = controller.tick()
                if as_json:
                    emit_json({"moved": [_brief(r) for r in moved]})
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


# -- output -----------------------------------------------------------------------------------


def _brief(r: RolloutRecord) -> dict[str, Any]:
    return {"id": r.id, "feature": r.feature, "status": r.status.value, "step": r.step,
            "weight_pct": r.weight_bp / 100, "candidate": r.candidate, "baseline": r.baseline,
            "reason": r.reason, "gate": r.gate}


def status_json(r: RolloutRecord, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    steps = [{"index": i, "weight_pct": s.weight, "dwell_s": s.dwell, "approval": s.approval,
              "current": i == r.step} for i, s in enumerate(r.plan.steps)]
    return {
        **_brief(r),
        "baseline_channel": r.baseline_channel,
        "version": r.version,
        "created_by": r.created_by,
        "created_at": r.created_at.isoformat(),
        "step_started_at": r.step_started_at.isoformat() if r.step_started_at else None,
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "alpha": r.plan.alpha,
        "steps": steps,
        "evaluation": evaluation,
    }


def _report(r: RolloutRecord, what: str, as_json: bool) -> None:
    if as_json:
        emit_json(_brief(r))
        return
    console.print(f"[bold]{r.ref}[/] {what}: {r.status.value}, candidate {r.candidate} at "
                  f"{r.weight_bp / 100:g}% (baseline {r.baseline}); "
                  f"gate: {escape(describe(r.gate))}")


def _fmt(value: Any, scale: str) -> str:
    if value is None:
        return "–"
    if scale == "relative":
        return f"{value * 100:+.1f}%"
    return f"{value:+.4g}"


def _value(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}"


def render_status(doc: dict[str, Any]) -> None:
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
                   "limit", "n (base/cand)"):
        table.add_column(column)
    for g in evaluation["guardrails"]:
        scale = g["scale"]
        interval = f"[{_fmt(g['lower'], scale)}, {_fmt(g['upper'], scale)}]"
        label = g["metric"] + (" (critical)" if g["critical"] else "")
        table.add_row(label, g["verdict"], _value(g["baseline_value"]),
                      _value(g["candidate_value"]), _fmt(g["estimate"], scale), interval,
                      _fmt(g["limit"], scale), f"{g['n_baseline']}/{g['n_candidate']}")
    console.print(table)
    console.print("quantile metrics: change/interval/limit are the difference in the share of "
                  "requests beyond the baseline's quantile (margin applied); fail when > limit")


__all__ = ["rollout_app"]
