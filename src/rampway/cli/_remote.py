"""`--server URL` for commands that can work through a running server's admin API.

Without `--server` a command opens the store directly (the database in rampway.yaml or
$RAMPWAY_DB); with it, the command talks to `URL/api/v1` with the admin key in
$RAMPWAY_API_KEY, so it needs no database access — and the server checks the key's role and
writes the audit log under the key's name.

    @app.command()
    @handle_errors
    def cmd(server: ServerOption = None) -> None:
        if server:
            with admin_client(server) as client: ...
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from rampway.errors import ConfigError

if TYPE_CHECKING:  # the client imports httpx: only commands given --server pay for it
    from rampway.admin.client import AdminClient

ENV_API_KEY = "RAMPWAY_API_KEY"

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="RAMPWAY_SERVER",
        help="A running rampway server (http://host:port); the admin key is read from "
        "$RAMPWAY_API_KEY. Default: work on the store directly.",
        show_default=False,
    ),
]


def admin_client(server: str) -> AdminClient:
    """A client for `server`, with the key from $RAMPWAY_API_KEY (ConfigError if unset)."""
    from rampway.admin.client import AdminClient

    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"--server must be an http(s) URL, got {server!r}")
    key = os.environ.get(ENV_API_KEY, "").strip()
    if not key:
        raise ConfigError(
            f"--server needs an admin API key in ${ENV_API_KEY} "
            "(create one with `rampway api-keys create NAME --role editor --reason …`)"
        )
    return AdminClient(server, key)


__all__ = ["ENV_API_KEY", "ServerOption", "admin_client"]
