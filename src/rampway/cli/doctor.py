"""`rampway doctor`: run every interlock check over the project and its store.

    rampway doctor                 # config, env keys, releases, flag files, channels, flags,
                                   # rollouts and experiments in flight, and everything
                                   # /readyz would list (pins, shadows) — all routable?
    rampway doctor --reach         # also a 1-token call to every provider (opt-in: it costs)
    rampway doctor --json

Exit 0 when every check passed, 1 when one failed (2 for a usage error, as everywhere). See
`rampway.release.doctor` for what each check looks at.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.cli.release import open_store, store_exists

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


@app.command("doctor")
@handle_errors
def doctor_cmd(
    reach: Annotated[bool, typer.Option("--reach", help="Also call each provider with a "
                                                         "1-token request.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check that everything that can reach users is routable and configured; exit 1 if not."""
    from rampway.release.doctor import run_checks

    proj = load_project_option(project)
    if store_exists(proj):
        with open_store(proj) as store:
            checks = run_checks(proj, env=os.environ, store=store, reach=reach)
    else:
        checks = run_checks(proj, env=os.environ, store=None, reach=reach)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        emit_json({"ok": not failed, "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            console.print(f"[{_STYLE[c.status]}]{c.status:<4}[/] {escape(c.name)}: "
                          f"{escape(c.detail)}", highlight=False)
        console.print(f"\n{len(checks)} check(s), {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


__all__ = ["doctor_cmd"]
