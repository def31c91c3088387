"""`rampway models drift|watch`: notice a provider moving the model behind a release.

    rampway models drift [--since 1d] [--json]       # exit 1 when some release drifted
    rampway models watch [--since 1d] [--interval 5m] [--once] [--reeval]

`drift` reports, from the request events, every release whose provider-reported model (or
backend fingerprint) changed within the window. `watch` is the job that acts on it: each tick it
writes a `model.drift` audit entry (the release's timeline) for each new model change and fires
the webhooks configured under `rollouts: webhooks:` in rampway.yaml (event `model_drift`).
With `lifecycle: reeval: [drift, catalog, deprecation]` in rampway.yaml (or `--reeval`: all
three), each tick also re-runs the gate of every production release so triggered
(`rampway.lifecycle.reeval`), records it (gate run + `model.reeval` timeline entry) and fires
`model_reeval`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.cli.models import models_app, parse_day, parse_window, project_catalog
from rampway.errors import ConfigError

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.lifecycle.drift import Drift
    from rampway.rollout.notify import Notifier
    from rampway.store import Store

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SinceOption = Annotated[
    str, typer.Option("--since", help="Window back from now: 30m, 6h, 1d, 2w.")
]


def parse_span(text: str, option: str = "--since") -> float:
    """'30m', '6h', '1d', '2w' → seconds."""
    match = _SPAN.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"{option}: expected a duration like 30m, 6h, 1d or 2w, got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@models_app.command("drift")
@handle_errors
def drift_cmd(
    since: SinceOption = "1d", project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Releases whose provider-reported model changed within the window (exit 1 if any)."""
    from rampway.cli.release import open_store, store_exists
    from rampway.lifecycle.drift import detect_drift, read_observations

    window = parse_span(since)
    proj = load_project_option(project)
    found = []
    if store_exists(proj):
        with open_store(proj) as store:
            found = detect_drift(read_observations(store, since=time.time() - window))
    if as_json:
        emit_json({"since": since, "ok": not found, "drift": [d.to_json() for d in found]})
    elif not found:
        console.print(f"ok: no provider-reported model or fingerprint changed in the last {since}")
    else:
        for drift in found:
            console.print(f"{drift.kind} drift: {drift.describe()}", markup=False)
    if found:
        raise typer.Exit(1)


@models_app.command("watch")
@handle_errors
def watch_cmd(
    since: SinceOption = "1d",
    interval: Annotated[
        str, typer.Option("--interval", help="Time between ticks: 30s, 5m, 1h.")
    ] = "5m",
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    reeval: Annotated[
        bool, typer.Option("--reeval", help="Re-evaluate on drift, catalog change and "
                                            "deprecation (default: `lifecycle: reeval:`).")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Today for deprecations (YYYY-MM-DD).")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Audit and announce (webhooks) each new provider model drift, re-evaluate what is due;
    runs until interrupted."""
    from rampway.cli.release import open_store
    from rampway.lifecycle.reeval import TRIGGERS
    from rampway.lifecycle.watch import model_drifts, watch_once
    from rampway.rollout.notify import Notifier
    from rampway.rollout.plan import settings_from

    window, pause = parse_span(since), parse_span(interval, "--interval")
    proj = load_project_option(project)
    today = parse_day(as_of)
    triggers = TRIGGERS if reeval else tuple(proj.config.lifecycle.reeval)
    notifier = Notifier(settings_from(proj.config.rollouts, str(proj.config_path)).webhooks)
    try:
        with open_store(proj) as store:
            while True:
                drifts = model_drifts(store, window_s=window)
                for drift in watch_once(store, notifier, window_s=window, drifts=drifts):
                    console.print(f"drift: {drift.describe()}", markup=False)
                if triggers:
                    for done in reeval_due(proj, store, notifier, drifts, triggers, today):
                        console.print(f"re-eval: {done['release_id']}: {done['reason']}",
                                      markup=False)
                if once:
                    return
                time.sleep(pause)
    except KeyboardInterrupt:
        return
    finally:
        notifier.close()


def reeval_due(
    proj: Project,
    store: Store,
    notifier: Notifier | None,
    drifts: Sequence[Drift],
    triggers: Sequence[str],
    today: dt.date,
) -> list[dict[str, Any]]:
    """Re-run the gate of each production release with a new trigger; announce each record."""
    from rampway.cli.eval import gate_context
    from rampway.evals.runner import RunOptions
    from rampway.lifecycle.reeval import ACTOR, EVENT, find_due, run_due

    catalog = project_catalog(proj)
    kinds = {name: cfg.kind for name, cfg in proj.config.providers.items()}
    horizon = today + dt.timedelta(days=parse_window(proj.config.lifecycle.within))
    dues = find_due(store, catalog, kinds, drifts, triggers=triggers, today=today,
                    horizon=horizon)
    if not dues:
        return []

    async def run_all() -> list[dict[str, Any]]:
        done: list[dict[str, Any]] = []
        async with gate_context(proj, store, False, None) as ctx:
            ctx.actor = ACTOR
            for due in dues:
                done += await run_due(ctx, due, catalog, kinds, RunOptions(), today=today,
                                      horizon=horizon)
        return done

    import asyncio  # here, not at the top: `rampway --help` imports this module

    records = asyncio.run(run_all())
    if notifier is not None:
        for record in records:
            notifier.announce(EVENT, record, f":mag: {record['release_id']}: {record['reason']}")
    return records


__all__ = ["drift_cmd", "parse_span", "reeval_due", "watch_cmd"]
