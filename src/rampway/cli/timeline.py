"""`rampway timeline FEATURE`: everything that happened to a feature (or one release), in order.

    rampway timeline support-bot
    rampway timeline support-bot --release support-bot@9f1c --since 7d
    rampway timeline support-bot --json

One line per entry: time, area, what happened, who and why. `--json` prints
`{"feature", "release", "since", "entries": [TimelineEntry.to_json(), …]}` with each entry's
evidence (the gate's reasons, the judge's guardrail results). Read-only: a project whose
database does not exist yet is refused, not created.
"""

from __future__ import annotations

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
from rampway.errors import RefError


@app.command("timeline")
@handle_errors
def timeline_cmd(
    feature: Annotated[str, typer.Argument(help="Feature name, e.g. support-bot.")],
    release: Annotated[
        str | None,
        typer.Option("--release", help="Only what concerns this release (id, prefix, digest)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only the last 7d, 12h, 90m, …")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries.")] = 500,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Releases, gate runs, rollout steps, experiments, channel moves and flag changes."""
    from rampway.cli.release import open_store, store_exists
    from rampway.timeline import build_timeline, since_window

    start = None if since is None else since_window(since)
    proj = load_project_option(project)
    if not store_exists(proj):
        raise RefError(f"unknown feature {feature!r}: the project has no database yet")
    with open_store(proj) as store:
        entries = build_timeline(store, feature, release=release, since=start, limit=limit)
        release_id = None if release is None else store.get_release(feature, release).release_id
    if as_json:
        emit_json({"feature": feature, "release": release_id,
                   "since": None if start is None else start.isoformat(),
                   "entries": [e.to_json() for e in entries]})
        return
    if not entries:
        console.print("no entries", markup=False)
    for e in entries:
        why = f" — {e.reason}" if e.reason else ""
        console.print(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.area:<10} {e.summary}  [{e.actor}]{why}",
                      markup=False)


__all__ = ["timeline_cmd"]
