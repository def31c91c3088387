"""`make demo`: the release story end to end on the embedded SQLite store.

The demo copies `examples/support-bot` into a scratch directory and drives it with the same
`rampway` commands a user types, so what it prints is what a user sees. Each chapter is a list of
commands; later chapters (gateway, gate, rollout) append to the same script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

console = Console(highlight=False, width=110)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def run(args: Sequence[str], cwd: Path, *, expect: int = 0) -> str:
    """Run one `rampway` command as a user would, echo it, and fail loudly on a surprise."""
    console.print(f"[bold cyan]$ rampway {' '.join(args)}[/]")
    proc = subprocess.run(
        [sys.executable, "-m", "rampway", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "RAMPWAY_ACTOR": "demo@rampway.dev", "COLUMNS": "110"},
        check=False,
    )
    out = proc.stdout + proc.stderr
    console.print(out.rstrip(), markup=False)
    if proc.returncode != expect:
        raise SystemExit(f"demo: `rampway {' '.join(args)}` exited {proc.returncode}")
    return out


def chapter(title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}"))


def releases_chapter(project: Path) -> None:
    chapter("1. Releases are files: validate, diff, publish, move production, roll back")
    run(["release", "validate"], project)
    run(["release", "diff", "support-bot", "history/support-bot/v1", "releases/support-bot"],
        project)
    run(["channel", "set", "support-bot", "production", "history/support-bot/v1",
         "--reason", "first launch"], project)
    run(["release", "publish"], project)
    run(["channel", "set", "support-bot", "production", "releases/support-bot",
         "--reason", "v2 prompt: cite the FAQ"], project)
    run(["rollback", "support-bot", "--reason", "customers prefer v1 tone"], project)
    run(["release", "history", "support-bot"], project)


def gate_chapter(project: Path) -> None:
    chapter("2. The eval gate: candidate vs baseline on quality, cost and latency")
    console.print(
        "v2 moves support-bot from sim-small to sim-large and rewrites the prompt. The gate runs "
        "the eval suite on both (simulated models, in-process) and applies "
        "policies/support-bot.yaml:"
    )
    run(["gate", "support-bot", "--candidate", "releases/support-bot",
         "--baseline", "history/support-bot/v1", "--sim-inprocess"], project, expect=1)
    console.print("exit code 1: quality rose, but cost and chat latency broke the policy.")


def prepare(workdir: Path) -> Path:
    project = workdir / "support-bot"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".rampway"))
    return project


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rampway-demo-") as tmp:
        project = prepare(Path(tmp))
        console.print(f"demo project: {project} (a copy of examples/support-bot)")
        releases_chapter(project)
        gate_chapter(project)
    console.print("\n[bold green]demo finished[/]")


if __name__ == "__main__":
    main()
