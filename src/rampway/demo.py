"""`make demo`: the release story end to end on the embedded SQLite store.

The demo copies `examples/support-bot` into a scratch directory and drives it with the same
`rampway` commands a user types, so what it prints is what a user sees. Each chapter is a list of
commands; later chapters (gateway, gate, rollout) append to the same script.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
from openai import OpenAI
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

console = Console(highlight=False, width=110)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def run(args: Sequence[str], cwd: Path, *, expect: int = 0, quiet: bool = False) -> str:
    """Run one `rampway` command as a user would, echo it, and fail loudly on a surprise."""
    if not quiet:
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
    if not quiet:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def background(args: Sequence[str], cwd: Path, ready_url: str | None = None) -> Iterator[None]:
    """A long-running `rampway …` process (gateway, controller) for the length of a chapter."""
    console.print(f"[bold cyan]$ rampway {' '.join(args)} &[/]")
    proc = subprocess.Popen(  # noqa: S603 (our own CLI)
        [sys.executable, "-m", "rampway", *args],
        cwd=cwd,
        env={**os.environ, "RAMPWAY_ACTOR": "demo@rampway.dev"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if ready_url is not None:
            wait_ready(proc, ready_url)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = proc.stderr.read() if proc.stderr else ""
            raise SystemExit(f"demo: process exited early: {detail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: {url} not ready within 60 s")


QUESTIONS = [
    "How long does standard shipping take?",
    "Where is my order A-10442?",
    "I was charged twice for my order",
    "Can I return shoes I bought three weeks ago?",
]


def ask(client: OpenAI, user: str, question: str) -> tuple[str, str, str]:
    raw = client.chat.completions.with_raw_response.create(
        model="support-bot",
        messages=[{"role": "user", "content": question}],
        user=user,
    )
    reply = raw.parse()
    message = reply.choices[0].message
    calls = [getattr(call, "function", None) for call in message.tool_calls or []]
    text = message.content or ", ".join(f"{fn.name}(…)" for fn in calls if fn is not None)
    return raw.headers["x-rampway-release"], raw.headers["x-request-id"], text


def served_release(client: OpenAI) -> str:
    return ask(client, "probe", QUESTIONS[0])[0]


def wait_for_release(client: OpenAI, expected: str) -> float:
    """Seconds from the channel move to the start of the first request served by `expected`."""
    moved = time.monotonic()
    while True:
        sent = time.monotonic()
        if served_release(client) == expected:
            return sent - moved
        if sent - moved > 10:
            raise SystemExit(f"demo: gateway did not switch to {expected} within 10 s")
        time.sleep(0.05)


def gateway_chapter(project: Path) -> None:
    chapter("3. The gateway: apps change only base_url; a rollback reaches it within a second")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with background(["serve", "--with-sim", "--port", str(port)], project, f"{base}/readyz"):
        client = OpenAI(base_url=f"{base}/v1", api_key="unused")
        console.print(f"client = OpenAI(base_url=\"{base}/v1\")   # the only change in the app")
        table = Table("user", "question", "x-rampway-release", "answer")
        for i, question in enumerate(QUESTIONS):
            release, _, text = ask(client, f"user-{i}", question)
            table.add_row(f"user-{i}", question, release, text[:60])
        console.print(table)
        v1 = served_release(client)
        run(["channel", "set", "support-bot", "production", "releases/support-bot",
             "--reason", "ship v2 again"], project)
        v2 = store_release_id(project, "releases/support-bot")
        took = wait_for_release(client, v2)
        console.print(f"the first request sent {took * 1000:.0f} ms after the move got {v2}")
        run(["rollback", "support-bot", "--reason", "demo rollback"], project)
        took = wait_for_release(client, v1)
        console.print(f"the first request sent {took * 1000:.0f} ms after the rollback got {v1}")
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        lines = [ln for ln in metrics.splitlines() if ln.startswith("rampway_requests_total")]
        console.print("\n".join(lines[:6]), markup=False)


def store_release_id(project: Path, ref: str) -> str:
    out = run(["release", "show", "support-bot", ref, "--json"], project, quiet=True)
    release_id: str = json.loads(out)["id"]
    return release_id


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
        gateway_chapter(project)
    console.print("\n[bold green]demo finished[/]")


if __name__ == "__main__":
    main()
