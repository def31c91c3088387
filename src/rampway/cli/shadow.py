"""`rampway shadow …`: mirror real requests to a candidate release, never served, and compare.

    rampway shadow validate [NAME]              # shadows/NAME.yaml (all when omitted)
    rampway shadow start NAME --reason "v3 before its 1% step"
    rampway shadow status NAME                  # state, spend today, pairs, what was not mirrored
    rampway shadow stop NAME --reason "enough pairs"
    rampway shadow list
    rampway shadow report NAME [--format text|md|json]   # what differs beyond the noise floor
    rampway shadow status NAME --server http://gw:8787     # any of them, via a server

`start` resolves each candidate (a channel, a release id or prefix, a release directory, a git
revision) to one release id, checks that the gateway can route it, publishes releases the store
does not have yet, and every gateway starts mirroring within a second. Refused, with nothing
written: an unknown feature or candidate, a candidate equal to what production serves, a
sample outside 0–100, a budget <= 0, a condition that does not compile, an unroutable model.
`stop` ends mirroring in every gateway within a second; the pairs stay.

With `--server URL` a command goes through the server's admin API (key in $RAMPWAY_API_KEY):
`start` sends the local shadows/NAME.yaml (if there is one; else the server reads its own),
publishing local release directories among the candidates first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rampway.cli import app
from rampway.cli._common import JsonOption, ProjectOption, handle_errors
from rampway.cli._remote import ServerOption

shadow_app = typer.Typer(help="Shadow traffic: real requests mirrored to a candidate, never "
                         "served.", no_args_is_help=True)
app.add_typer(shadow_app, name="shadow")

NameArg = Annotated[str, typer.Argument(help="Shadow name: shadows/NAME.yaml.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


@shadow_app.command("validate")
@handle_errors
def validate_cmd(
    name: Annotated[str | None, typer.Argument(help="One shadow (default: all).")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check shadow files (feature, candidates, sample, condition, budget) without the store."""
    from rampway.cli import _shadow_impl

    _shadow_impl.validate_cmd(name, project, as_json)


@shadow_app.command("start")
@handle_errors
def start_cmd(
    name: NameArg,
    reason: ReasonOption = "",
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start mirroring FEATURE's sampled requests to the candidates of shadows/NAME.yaml."""
    from rampway.cli import _shadow_impl

    _shadow_impl.start_cmd(name, reason, server, project, as_json)


@shadow_app.command("stop")
@handle_errors
def stop_cmd(
    name: NameArg,
    reason: ReasonOption = "",
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop mirroring in every gateway (within a second); the pairs stay for the report."""
    from rampway.cli import _shadow_impl

    _shadow_impl.stop_cmd(name, reason, server, project, as_json)


@shadow_app.command("list")
@handle_errors
def list_cmd(server: ServerOption = None, project: ProjectOption = None,
             as_json: JsonOption = False) -> None:
    """Shadows in the store (newest first), and the project's files never started."""
    from rampway.cli import _shadow_impl

    _shadow_impl.list_cmd(server, project, as_json)


@shadow_app.command("status")
@handle_errors
def status_cmd(name: NameArg, server: ServerOption = None, project: ProjectOption = None,
               as_json: JsonOption = False) -> None:
    """State (mirroring / over-budget / ended / stopped), spend today, pairs, not mirrored."""
    from rampway.cli import _shadow_impl

    _shadow_impl.status_cmd(name, server, project, as_json)


@shadow_app.command("report")
@handle_errors
def report_cmd(
    name: NameArg,
    fmt: Annotated[str, typer.Option("--format", help="text, md or json.")] = "text",
    out: Annotated[Path | None, typer.Option("--out", help="Write the report here.")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Candidate vs primary on the mirrored requests: difference classes beyond the noise floor
    (the primary's own twin), failure modes, latency and cost deltas, and a one-line verdict."""
    from rampway.cli import _shadow_impl

    _shadow_impl.report_cmd(name, "json" if as_json else fmt, out, project)


__all__ = ["shadow_app"]
