"""`rampway eval FEATURE` — run a feature's eval suite against one release.

    rampway eval support-bot                        # working tree release
    rampway eval support-bot --release production --repeats 5 --concurrency 32 --json
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    err_console,
    fail,
    handle_errors,
    load_project_option,
)
from rampway.errors import RampwayError

if TYPE_CHECKING:  # the runner pulls numpy/scipy and the store SQLAlchemy: loaded by `eval` only
    from rampway.config import Project
    from rampway.evals.results import CaseResult
    from rampway.evals.runner import Progress as RunProgress
    from rampway.evals.runner import RunOptions
    from rampway.gate.run import GateContext, OnResult
    from rampway.store import Store

ReleaseOption = Annotated[
    str | None,
    typer.Option("--release", "-r", help="Release ref: path, id, channel or git revision."),
]
RepeatsOption = Annotated[
    int | None,
    typer.Option("--repeats", min=1, max=100, help="Repeats per case (default 3 if temp > 0)."),
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, max=1024, help="Calls in flight at most.")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="Also write the JSON here.")]
SimOption = Annotated[
    bool,
    typer.Option(
        "--sim-inprocess",
        help="Serve every `kind: sim` provider in-process (no sim server needed).",
    ),
]


@asynccontextmanager
async def gate_context(
    project: Project, store: Store, sim_inprocess: bool, on_result: OnResult | None
) -> AsyncIterator[GateContext]:
    """A router over the project's providers (closed afterwards)."""
    from rampway.gate.run import GateContext
    from rampway.providers.catalog import Catalog
    from rampway.providers.registry import build_providers
    from rampway.router import Router

    config = {n: p.model_dump() for n, p in project.config.providers.items()}
    if sim_inprocess:
        from rampway.gateway.serve import sim_config_path

        sim_config = sim_config_path(project)
        config = {n: _inprocess(p, sim_config) for n, p in config.items()}
    registry = build_providers(config)
    try:
        router = Router(registry, Catalog.load(project.config.catalog))
        yield GateContext(project, store, router.complete, on_result)
    finally:
        await registry.aclose()


def _inprocess(provider: dict[str, Any], sim_config: Path | None) -> dict[str, Any]:
    """The in-process simulator with the project's `sim: {config: …}` models, if any."""
    if provider.get("kind") != "sim":
        return provider
    local = {k: v for k, v in provider.items() if k != "base_url"}
    options = dict(local.get("options") or {})
    if sim_config is not None and "config" not in options and "config" not in local:
        options["config"] = str(sim_config)
    local["options"] = options
    return local


@contextmanager
def progress_bar(enabled: bool) -> Iterator[OnResult | None]:
    """A rich progress bar on stderr with the running cost; nothing when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("${task.fields[cost]:.4f} spent · {task.fields[cached]} cached"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(label: str, progress: RunProgress, _result: CaseResult) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=progress.total, cost=0.0, cached=0)
        bar.update(
            tasks[label],
            completed=progress.done,
            cost=progress.spent_usd,
            cached=progress.cached,
        )

    with bar:
        yield update


@app.command("eval")
@handle_errors
def eval_command(
    feature: Annotated[str, typer.Argument(help="Feature whose suite to run.")],
    release: ReleaseOption = None,
    repeats: RepeatsOption = None,
    concurrency: ConcurrencyOption = 16,
    out: OutOption = None,
    sim_inprocess: SimOption = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run FEATURE's eval suite (evals/FEATURE/suite.yaml) against a release."""
    import asyncio

    from rampway.evals.runner import RunOptions
    from rampway.evals.suite import require_suite
    from rampway.release import resolve_ref
    from rampway.store import Store

    proj = load_project_option(project)
    suite = require_suite(proj.root, feature)
    options = RunOptions(repeats=repeats, concurrency=concurrency)
    store = Store.open(proj.db_url)
    try:
        rel = resolve_ref(proj, feature, release, store)
        with progress_bar(not as_json and err_console.is_terminal) as on_result:
            run = asyncio.run(_run(proj, store, sim_inprocess, on_result, suite, rel, options))
    finally:
        store.close()
    document = run.to_json()
    if out is not None:
        _write(out, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if as_json:
        emit_json(document)
        return
    _print_summary(run.summary())


async def _run(
    proj: Project,
    store: Store,
    sim_inprocess: bool,
    on_result: OnResult | None,
    suite: Any,
    rel: Any,
    options: RunOptions,
) -> Any:
    from rampway.gate.run import eval_release

    async with gate_context(proj, store, sim_inprocess, on_result) as ctx:
        return await eval_release(ctx, suite, rel, options)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def _print_summary(summary: dict[str, Any]) -> None:
    console.print(
        f"[bold]{summary['feature']}[/bold] {summary['release']} · {summary['cases']} cases × "
        f"{summary['repeats']} repeat(s) · run {summary['run_id'][:8]}"
        f"{'' if summary['complete'] else ' (incomplete)'}"
    )
    for name, value in summary["metrics"].items():
        console.print(f"  {name:<20} {value * 100:6.1f}")
    p50, p95 = summary["latency_p50_s"] or 0.0, summary["latency_p95_s"] or 0.0
    console.print(
        f"  cost/case ${summary['cost_usd_per_case']:.6f} · spent now ${summary['spent_usd']:.4f}"
        f" · latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms · errors {summary['errors']}"
    )


__all__ = ["RampwayError", "eval_command", "gate_context", "progress_bar"]
