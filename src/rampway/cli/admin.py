"""`rampway api-keys …`: keys for the admin API, with roles viewer / editor / admin.

    rampway api-keys create ana --role admin --reason "bootstrap"   # prints the key once
    rampway api-keys list
    rampway api-keys revoke ana --reason "left the team"

Without `--server` these work on the store directly — that is how the first admin key is made.
With `--server URL` they go through the admin API and need an admin key in $RAMPWAY_API_KEY.
(App keys, which applications use to call features, are `rampway keys …`.)
"""

from __future__ import annotations

from typing import Annotated

import typer

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
from rampway.cli._remote import ServerOption, admin_client

api_keys_app = typer.Typer(help="Admin API keys (roles viewer, editor, admin; stored hashed).",
                           no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")

NameArg = Annotated[str, typer.Argument(help="Who or what uses the key, e.g. ana or ci.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


@api_keys_app.command("create")
@handle_errors
def create_cmd(
    name: NameArg,
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin.")],
    reason: ReasonOption = "",
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    from rampway._reason import require_reason
    from rampway.admin.keys import create_admin_key, parse_role
    from rampway.store import Store

    parsed = parse_role(role)
    # refused before anything opens (or creates) the database; the store checks it again
    require_reason(reason, f"creating admin key {name!r}")
    if server:
        with admin_client(server) as client:
            out = client.create_key(name, parsed.value, reason=reason)
    else:
        with Store.open(load_project_option(project).db_url) as store:
            key, plaintext = create_admin_key(store, name, parsed, actor=current_actor(),
                                              reason=reason)
        out = {**key.to_json(), "key": plaintext}
    if as_json:
        emit_json(out)
        return
    console.print(f"created {out['role']} key [bold]{name}[/] — store it now, it is not shown "
                  "again:")
    console.print(out["key"], markup=False)


@api_keys_app.command("list")
@handle_errors
def list_cmd(
    server: ServerOption = None, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Active admin keys (names and roles, never the keys)."""
    from rampway.admin.keys import list_admin_keys
    from rampway.store import Store

    if server:
        with admin_client(server) as client:
            keys = client.list_keys()
    else:
        with Store.open(load_project_option(project).db_url) as store:
            keys = [k.to_json() for k in list_admin_keys(store)]
    if as_json:
        emit_json({"keys": keys})
        return
    if not keys:
        console.print("no admin keys: the admin API refuses every call until one exists")
    for k in keys:
        console.print(f"[bold]{k['name']}[/]  {k['role']}")


@api_keys_app.command("revoke")
@handle_errors
def revoke_cmd(
    name: NameArg,
    reason: ReasonOption = "",
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key; the admin API refuses it immediately."""
    from rampway._reason import require_reason
    from rampway.admin.keys import revoke_admin_key
    from rampway.store import Store

    require_reason(reason, f"revoking admin key {name!r}")
    if server:
        with admin_client(server) as client:
            client.revoke_key(name, reason=reason)
    else:
        with Store.open(load_project_option(project).db_url) as store:
            revoke_admin_key(store, name, actor=current_actor(), reason=reason)
    if as_json:
        emit_json({"name": name, "revoked": True})
        return
    console.print(f"revoked admin key [bold]{name}[/]")


__all__ = ["api_keys_app"]
