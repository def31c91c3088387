"""`rampway init [DIR]`: write a working starter project (see rampway.scaffold)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rampway.cli import app
from rampway.cli._common import JsonOption, console, emit_json, handle_errors


@app.command("init")
@handle_errors
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Scaffold rampway.yaml, one feature with a release, and eval/policy placeholders."""
    from rampway.scaffold import write_scaffold

    written = write_scaffold(directory)
    if as_json:
        emit_json({"directory": str(directory.resolve()), "files": written})
        return
    for rel in written:
        console.print(f"[green]created[/] {directory / rel}")
    console.print("next: [bold]rampway release validate[/] then [bold]rampway release publish[/]")
