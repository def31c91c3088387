"""`rampway serve` (the gateway) and `rampway keys …` (its app keys).

    rampway serve [--host 127.0.0.1] [--port 8787] [--workers N] [--with-sim]
                  [--no-controller] [--controller-interval SECONDS] [--ui-port N]
    rampway keys create NAME [--feature F …] --reason "…" [--json]   # prints the key once
    rampway keys list [--json]
    rampway keys revoke NAME --reason "…"
    rampway keys hash KEY                                  # for `gateway.keys` in rampway.yaml
"""

from __future__ import annotations

import math
from typing import Annotated

import typer

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

SERVE_HELP = (
    "Serve the OpenAI/Anthropic-compatible gateway until SIGTERM/SIGINT.\n\n"
    "Events are written in batches every gateway.events.flush_interval seconds (default 0.5): "
    "a graceful stop (SIGTERM) drains them all; a hard crash loses at most that window. When "
    "the event queue is full (database down), new events are dropped and counted in "
    "rampway_events_dropped_total rather than slowing requests down.\n\n"
    "The rollout controller runs inside the server (one per `rampway serve`, whatever the "
    "number of workers) and judges active rollouts every rollouts.interval seconds (default "
    "60); --no-controller leaves that to `rampway controller` or another server. Any number "
    "of controllers may share a database: one of them (the holder of a lease the database "
    "keeps) does the looking, the others take over if it stops, and each transition happens "
    "exactly once.\n\n"
    "--port 0 picks a free port; the address is printed on stderr once the socket is bound.\n\n"
    "The web dashboard is served at /ui/ on the gateway's port; --ui-port N serves it on port N "
    "instead (same host and processes; the gateway's port then has no /ui/), e.g. to keep the "
    "pages on an internal address."
)


@app.command("serve", help=SERVE_HELP)
@handle_errors
def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8787,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    with_sim: Annotated[
        bool,
        typer.Option("--with-sim", help="Also start the simulator; point sim providers at it."),
    ] = False,
    sim_port: Annotated[int, typer.Option(help="Simulator port with --with-sim (0 = any).")] = 0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    controller: Annotated[
        bool,
        typer.Option("--controller/--no-controller",
                     help="Run the rollout controller in this server."),
    ] = True,
    controller_interval: Annotated[
        float | None,
        typer.Option(help="Seconds between the controller's looks (default rollouts.interval, "
                          "60).", show_default=False),
    ] = None,
    ui_port: Annotated[
        int | None,
        typer.Option("--ui-port", help="Serve the dashboard on this port instead of --port "
                                       "(0 = any free port).", show_default=False),
    ] = None,
    project: ProjectOption = None,
) -> None:
    from rampway.gateway.serve import check_ports, run

    if not 0 <= port <= 65535 or not 0 <= sim_port <= 65535:
        fail("--port and --sim-port must be between 0 and 65535")
    if ui_port is not None and not 0 <= ui_port <= 65535:
        fail("--ui-port must be between 0 and 65535")
    if workers < 1:
        fail("--workers must be at least 1")
    if controller_interval is not None and not (
        math.isfinite(controller_interval) and controller_interval > 0
    ):
        fail("--controller-interval must be a positive number of seconds")
    check_ports(port, ui_port, sim_port if with_sim else None)
    proj = load_project_option(project)

    def ready(message: str) -> None:
        err_console.print(message, markup=False, soft_wrap=True)

    run(proj, host=host, port=port, workers=workers, with_sim=with_sim, sim_port=sim_port,
        log_level=log_level, on_ready=ready, controller=controller,
        controller_every=controller_interval, ui_port=ui_port)


keys_app = typer.Typer(help="App keys for the gateway (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@handle_errors
def keys_create(
    name: Annotated[str, typer.Argument(help="A name for the app or team using the key.")],
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", "-f", help="Limit the key to this feature (repeatable)."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (audit log).")] = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    from rampway._reason import require_reason
    from rampway.gateway.keys import create_key
    from rampway.store import Store

    # refused before anything opens (or creates) the database; the store checks it again
    require_reason(reason, f"creating app key {name!r}")
    proj = load_project_option(project)
    with Store.open(proj.db_url) as store:
        key, plaintext = create_key(store, name, features=feature, actor=current_actor(),
                                    reason=reason)
    if as_json:
        emit_json({**key.to_json(), "key": plaintext})
        return
    console.print(f"created app key [bold]{name}[/] — store it now, it is not shown again:")
    console.print(plaintext, markup=False)


@keys_app.command("list")
@handle_errors
def keys_list(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Active keys stored in the database (names and feature limits, never the keys)."""
    from rampway.gateway.keys import list_keys
    from rampway.store import Store

    proj = load_project_option(project)
    with Store.open(proj.db_url) as store:
        keys = list_keys(store)
    if as_json:
        emit_json({"keys": [k.to_json() for k in keys]})
        return
    if not keys:
        console.print("no app keys (the gateway accepts requests without a key)")
    for k in keys:
        limit = "all features" if k.features is None else ", ".join(sorted(k.features))
        console.print(f"[bold]{k.name}[/]  {limit}")


@keys_app.command("revoke")
@handle_errors
def keys_revoke(
    name: Annotated[str, typer.Argument(help="Name of the key to revoke.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (audit log).")] = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key; running gateways refuse it within a second."""
    from rampway._reason import require_reason
    from rampway.gateway.keys import revoke_key
    from rampway.store import Store

    require_reason(reason, f"revoking app key {name!r}")
    proj = load_project_option(project)
    with Store.open(proj.db_url) as store:
        revoke_key(store, name, actor=current_actor(), reason=reason)
    if as_json:
        emit_json({"name": name, "revoked": True})
        return
    console.print(f"revoked app key [bold]{name}[/]")


@keys_app.command("hash")
@handle_errors
def keys_hash(
    key: Annotated[str, typer.Argument(help="A key to hash for `gateway.keys` in rampway.yaml.")],
    as_json: JsonOption = False,
) -> None:
    """Print the SHA-256 to put in rampway.yaml (`gateway.keys: [{name, sha256}]`)."""
    from rampway.gateway.keys import hash_key

    digest = hash_key(key)
    if as_json:
        emit_json({"sha256": digest})
        return
    console.print(digest, markup=False)


__all__ = ["keys_app", "serve_cmd"]
