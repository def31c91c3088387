"""`rampway gate` — decide whether a candidate release may replace the baseline.

    rampway gate support-bot --candidate releases/support-bot --baseline production
    rampway gate --changed-since origin/main --format md --out gate.md
    rampway gate support-bot --candidate HEAD --json        # same as --format json

Exit codes: 0 pass, 1 fail, 3 inconclusive, 2 usage or configuration error — whatever the output
format. The gate looks at growing samples until it can decide (the policy's `sequential:` block
sets the looks and the budget); stderr gets one line per feature saying how many looks and new
calls the decision took, whatever the output format. Every finished comparison is recorded in
the store (with $RAMPWAY_ACTOR / git user as actor); `rampway rollout start` requires a recorded
pass against its baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    current_actor,
    err_console,
    fail,
    handle_errors,
    load_project_option,
)
from rampway.cli.eval import (
    ConcurrencyOption,
    RepeatsOption,
    SimOption,
    _write,
    gate_context,
    progress_bar,
)
from rampway.errors import RefError

if TYPE_CHECKING:  # the gate's statistics pull numpy/scipy: imported when a gate runs
    from rampway.config import Project
    from rampway.evals.runner import RunOptions
    from rampway.gate.model import Verdict
    from rampway.gate.report import GateReport
    from rampway.gate.run import OnResult
    from rampway.store import Store

FORMATS = ("md", "json", "junit")  # rampway.gate.report.FORMATS, without importing the gate


@app.command("gate")
@handle_errors
def gate_command(
    feature: Annotated[str | None, typer.Argument(help="Feature to gate.")] = None,
    candidate: Annotated[
        str | None,
        typer.Option("--candidate", "-c", help=(
            "Candidate ref: path, release id, channel or git rev. Required with FEATURE; with "
            "--changed-since, each changed feature's release in the working tree.")),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", "-b", help="Baseline ref (default: the production channel)."),
    ] = None,
    changed_since: Annotated[
        str | None,
        typer.Option("--changed-since", help="Gate every feature whose release changed since REV."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="md (default), json or junit.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help=(
        "Also write the report to this file, in the --format chosen (md unless told)."))] = None,
    repeats: RepeatsOption = None,
    concurrency: ConcurrencyOption = 16,
    sim_inprocess: SimOption = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the eval suite on baseline and candidate, compare quality, cost and latency, and
    apply the feature's gate policy. Exit 0 pass, 1 fail, 3 inconclusive, 2 bad input; the
    result is recorded (a rollout starts only after a recorded pass)."""
    import asyncio

    from rampway.evals.runner import RunOptions
    from rampway.evals.suite import require_suite
    from rampway.gate.model import Verdict
    from rampway.gate.report import render
    from rampway.store import Store

    fmt = _format(fmt, as_json)
    if (feature is None) == (changed_since is None):
        fail("give a FEATURE or --changed-since REV (exactly one)")
    if feature is not None and candidate is None:
        fail("--candidate REF is required when gating one feature")
    proj = load_project_option(project)
    options = RunOptions(repeats=repeats, concurrency=concurrency)
    if feature is not None:
        # Checked before the store opens: a refused gate leaves no new database behind.
        require_suite(proj.root, feature)
    store = Store.open(proj.db_url)
    try:
        plan = _plan(proj, store, feature, candidate, baseline, changed_since)
        with progress_bar(err_console.is_terminal) as on_result:
            reports = asyncio.run(
                _gate_all(proj, store, sim_inprocess, on_result, plan, options, current_actor())
            )
    finally:
        store.close()
    for report in reports:
        if report.first_release:
            from rampway.gate.report import FIRST_RELEASE_NOTE

            err_console.print(f"{report.data.feature}: first release: {FIRST_RELEASE_NOTE}; "
                              f"put it live with `rampway channel set {report.data.feature} "
                              "production REF`", markup=False)
        if report.model_swap is not None:
            from rampway.gate.report import MODEL_SWAP_NOTE

            err_console.print(f"{report.data.feature}: model change only ({report.model_swap}): "
                              f"{MODEL_SWAP_NOTE}", markup=False)
        if report.sequential is not None:
            err_console.print(
                f"{report.data.feature}: {report.decision.verdict.value.upper()} — "
                f"{report.sequential.describe()}",
                markup=False,
            )
    verdict = Verdict.worst([_counted(r) for r in reports]) if reports else Verdict.PASS
    text = render(reports, fmt) if reports else _nothing(fmt)
    if out is not None:
        _write(out, text)
    typer.echo(text, nl=False)
    raise typer.Exit(verdict.exit_code)


def _counted(report: GateReport) -> Verdict:
    """The verdict as the exit code counts it: `inconclusive: warn` in the policy lets an
    INCONCLUSIVE gate exit 0 (the report still says inconclusive)."""
    from rampway.gate.model import Verdict

    verdict = report.decision.verdict
    if verdict is Verdict.INCONCLUSIVE and report.policy.inconclusive == "warn":
        err_console.print(f"warning: {report.data.feature} is inconclusive; policy says "
                          "`inconclusive: warn`, so it does not fail the gate")
        return Verdict.PASS
    return verdict


Plan = list[tuple[str, str | None, str | None]]


def _format(fmt: str | None, as_json: bool) -> str:
    """`--json` is `--format json` (every reporting command takes --json); both must agree."""
    if fmt is not None and fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if as_json and fmt not in (None, "json"):
        fail(f"--json and --format {fmt} disagree; give one of them")
    return "json" if as_json else (fmt or "md")


def _plan(
    proj: Project,
    store: Store,
    feature: str | None,
    candidate: str | None,
    baseline: str | None,
    since: str | None,
) -> Plan:
    if feature is not None:
        return [(feature, candidate, baseline)]
    assert since is not None
    from rampway.evals.suite import suite_path
    from rampway.gate.run import changed_features
    from rampway.release import resolve_ref
    from rampway.release._refs import require_revision

    require_revision(proj, since)  # an unknown REV is an error, never "nothing changed"
    plan: Plan = []
    for name in changed_features(proj, since, store):
        if not suite_path(proj.root, name).is_file():
            err_console.print(f"note: {name} changed but has no eval suite; not gated")
            continue
        base = baseline or since
        try:
            resolve_ref(proj, name, base, store)
        except RefError:
            err_console.print(f"note: {name} is new since {since}; no baseline to gate against")
            continue
        plan.append((name, candidate, base))
    return plan


async def _gate_all(
    proj: Project,
    store: Store,
    sim_inprocess: bool,
    on_result: OnResult | None,
    plan: Plan,
    options: RunOptions,
    actor: str,
) -> list[GateReport]:
    from rampway.gate.run import gate_feature

    async with gate_context(proj, store, sim_inprocess, on_result) as ctx:
        ctx.actor = actor
        return [await gate_feature(ctx, f, c, b, options) for f, c, b in plan]


def _nothing(fmt: str) -> str:
    if fmt == "json":
        return '{"verdict": "pass", "features": []}\n'
    if fmt == "junit":
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<testsuites name="rampway gate" tests="0" failures="0" errors="0" />\n')
    return "## ✅ rampway gate: nothing to gate — no feature with a suite changed\n"
