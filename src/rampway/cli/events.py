"""`rampway events …`: the event log's upkeep.

    rampway events prune [--older-than 30d] [--dry-run] [--batch 50000] [--json]
    rampway events rebuild-health [--since 1d] [--json]

`prune` deletes request and feedback events older than the window (default: the configured
`gateway.events.retention`), never inside an active rollout's or running experiment's window;
on PostgreSQL it drops the day partitions entirely before it instead (listed, with the
planner's row estimate). Then it deletes the attribute/flag values and the shapes no remaining
event uses (counted as `values` and `shapes`). `--dry-run` only counts, and lists the
partitions it would drop.
The fleet's rollout controller does the same hourly on its own (see
`rampway.events.retention`); this is for doing it now, or with another window.

`rebuild-health` recomputes the overview's per-minute health roll-up from the event log (see
`rampway.events.health`): after upgrading a store that already holds events, or after loading
events around the gateway. The overview reads the last day, hence the default.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.errors import ConfigError

events_app = typer.Typer(help="The event log: retention, the health roll-up.", no_args_is_help=True)
app.add_typer(events_app, name="events")


def _window(older_than: str | None, configured: float | None) -> float | None:
    """Seconds from `--older-than`, else the configured retention (None: keep forever)."""
    if older_than is None:
        return configured
    from rampway.events.retention import parse_retention

    try:
        seconds = parse_retention(older_than)
    except ValueError as exc:
        raise ConfigError(f"--older-than: {exc}") from None
    if seconds is None:
        raise ConfigError("--older-than: give a duration such as 30d (forever prunes nothing)")
    return seconds


@events_app.command("prune")
@handle_errors
def prune_cmd(
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Delete events older than this: 30d, 12h "
                     "(default: gateway.events.retention, 90d unless set)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", help="Rows per delete transaction.")
    ] = 50_000,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete old request and feedback events, in batches, sparing active analysis windows."""
    from rampway.cli.release import open_store
    from rampway.events.retention import prune
    from rampway.gateway.settings import GatewaySettings

    if batch < 1:
        raise ConfigError(f"--batch: must be at least 1, got {batch}")
    proj = load_project_option(project)
    configured = GatewaySettings.from_config(proj.config.gateway).events.retention
    seconds = _window(older_than, configured)
    if seconds is None:
        if as_json:
            emit_json({"retention": None, "requests": 0, "feedback": 0, "values": 0,
                       "shapes": 0, "dry_run": dry_run})
        else:
            console.print("retention is off (gateway.events.retention: forever): nothing pruned")
        return
    with open_store(proj) as store:
        result = prune(store, time.time() - seconds, batch=batch, dry_run=dry_run)
    if as_json:
        emit_json({"retention_s": seconds, **result.to_json()})
        return
    doc = result.to_json()
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {result.requests} request and {result.feedback} feedback events "
                  f"older than {doc['cutoff']}", markup=False)
    console.print(f"{verb} {result.values} attribute/flag values and {result.shapes} shapes "
                  "no remaining event uses", markup=False)
    for part in doc["partitions"]:
        rows = "" if part["rows_estimate"] is None else f", ~{part['rows_estimate']} rows"
        console.print(f"{'would drop' if dry_run else 'dropped'} partition {part['name']} "
                      f"({part['from'] or 'the start'} to {part['to']}{rows})", markup=False)
    if result.held_by is not None:
        console.print(f"cutoff held back from {doc['requested_cutoff']} by {result.held_by} "
                      "(its events are still being analysed)", markup=False)


@events_app.command("rebuild-health")
@handle_errors
def rebuild_health_cmd(
    since: Annotated[
        str, typer.Option("--since", help="Roll up the events of this last while: 1d, 12h, 30d.")
    ] = "1d",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute the overview's health roll-up from the event log, from --since ago on."""
    from rampway.cli.release import open_store
    from rampway.events.health import rebuild
    from rampway.rollout.plan import parse_duration

    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"--since: give a positive duration such as 1d, got {since!r}")
    proj = load_project_option(project)
    started = time.monotonic()
    with open_store(proj) as store:
        result = rebuild(store, time.time() - seconds)
    elapsed = time.monotonic() - started
    if as_json:
        emit_json({"since": result.since, "events": result.events, "minutes": result.minutes,
                   "seconds": round(elapsed, 3)})
        return
    console.print(f"rolled up {result.events} request events into {result.minutes} "
                  f"feature-release minutes in {elapsed:.1f} s", markup=False)


__all__ = ["events_app"]
