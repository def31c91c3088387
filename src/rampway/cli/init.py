"""`rampway init [DIR]`: write a runnable starter project (see rampway.scaffold).

    rampway init && rampway release publish && rampway gate assistant --candidate releases/assistant
"""

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
    """Scaffold a runnable project: a release, an eval suite and a gate policy on the simulator."""
    from rampway.scaffold import write_scaffold

    written = write_scaffold(directory)
    if as_json:
        emit_json({"directory": str(directory.resolve()), "files": written})
        return
    for rel in written:
        console.print(f"[green]created[/] {directory / rel}")
    console.print("next: [bold]rampway release publish[/] then "
                  "[bold]rampway gate assistant --candidate releases/assistant[/]")
