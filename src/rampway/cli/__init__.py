"""The `rampway` command line. Each area registers its commands from its own module.

Start-up time is a feature: a command imports only its own command modules
(`rampway.cli._lazy`), `rampway --help` imports every one, so a module's top
level imports only typer, rich's console and light rampway modules; releases, the store,
statistics and the servers are imported inside the commands that use them (a test in
tests/cli/test_cli_startup.py holds that line).
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="rampway",
    help="Ship LLM behaviour changes like code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from rampway import __version__

        typer.echo(f"rampway {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Ship LLM behaviour changes like code."""


def main() -> None:
    import sys

    from rampway.cli._lazy import attach

    attach(sys.argv[1:])  # only the named command's modules (see rampway.cli._lazy)
    app()
