"""Shared plumbing for every `rampway` command: error boundary, JSON output, project, actor.

Every command follows the same contract: bad input is one line `error: <message>` on stderr and
exit code 2; `--json` prints exactly one JSON document on stdout. Use it like this:

    @app.command()
    @handle_errors
    def show(feature: str, project: ProjectOption = None, as_json: JsonOption = False) -> None:
        proj = load_project_option(project)
        ...
        if as_json:
            emit_json({"feature": feature})
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from rampway.errors import RampwayError

if TYPE_CHECKING:
    from rampway.config import Project

P = ParamSpec("P")
R = TypeVar("R")

# Piped or in CI, rich would assume 80 columns and squeeze tables and cut long lines; a log
# has no width, so only a terminal (or an explicit COLUMNS) sets one.
PIPE_WIDTH = 240


def _width(stream: Any) -> int | None:
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return PIPE_WIDTH


console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def print_code(text: str, lexer: str) -> None:
    """Print source or a diff: highlighted in a terminal, verbatim (every character, no
    padding) when piped, so `rampway release diff … | cat` and CI logs keep whole lines."""
    if not console.is_terminal:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return
    from rich.syntax import Syntax

    console.print(Syntax(text, lexer, word_wrap=True))

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        envvar="RAMPWAY_PROJECT",
        help="Project directory (default: nearest rampway.yaml from the current directory up).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of text.")
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line `error: …` on stderr and exit. Newlines are folded so it stays one line."""
    one_line = " ".join(message.split())
    err_console.print(f"error: {one_line}", markup=False)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn any RampwayError escaping a command into `fail(...)` (exit 2)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except RampwayError as exc:
            fail(exc.message)

    return wrapper


def emit_json(document: Any) -> None:
    """Write one JSON document to stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def load_project_option(project: Path | None) -> Project:
    """The project for a command: `--project DIR` / $RAMPWAY_PROJECT, else search from cwd up."""
    from rampway.config import load_project

    return load_project(project)


def current_actor() -> str:
    """Who is acting, for the audit log: $RAMPWAY_ACTOR, else git user.email, else $USER."""
    actor = os.environ.get("RAMPWAY_ACTOR", "").strip()
    if actor:
        return actor
    try:
        out = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None and out.returncode == 0 and out.stdout.strip():
        return out.stdout.strip()
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


__all__ = [
    "JsonOption",
    "ProjectOption",
    "console",
    "current_actor",
    "emit_json",
    "err_console",
    "fail",
    "handle_errors",
    "load_project_option",
    "print_code",
]
