"""The `rampway` command line. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rampway",
    help="Ship LLM behaviour changes like code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    from rampway.cli import _register  # noqa: F401  (imports attach the sub-commands)

    app()
