"""Build a small rampway project on disk, publish its releases, serve it (shared by gateway, SDK
and events tests).

Features:
  support-bot  managed, system prompt with a variable, requires a unit, text retention with
               redaction of 16-digit numbers; two releases (v1 on sim-large, v2 on sim-small)
  echo         passthrough on sim-small, no retention
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
import uvicorn
import yaml

from rampway.config import Project, load_project
from rampway.events.tables import feedback_events, request_event_rows, request_events
from rampway.gateway import GatewayApp, Runtime
from rampway.release import Release, load_release
from rampway.store import Store

SYSTEM_V1 = "You are the support assistant. Greet {{ customer_name | default('the customer') }}."
SYSTEM_V2 = "You are the NEW support assistant for {{ customer_name | default('everyone') }}."

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_release(root: Path, feature: str, spec: dict[str, Any], files: dict[str, str]) -> Path:
    directory = root / feature
    _write(directory / "release.yaml", yaml.safe_dump(spec, sort_keys=False))
    for rel, text in files.items():
        _write(directory / rel, text)
    return directory


def support_spec(model: str) -> dict[str, Any]:
    return {
        "provider": "sim",
        "model": model,
        "fallbacks": ["sim-large-2"],
        "mode": "managed",
        "params": {"temperature": 0.2, "max_tokens": 200, "seed": 1},
        "messages": {"system": "prompts/system.md"},
        "variables": {"customer_name": {"required": False}},
    }


@dataclass
class Proj:
    project: Project
    db_url: str
    v1: Release
    v2: Release
    echo: Release
    tools: Release


def fail_model(tmp: Path, model: str) -> None:
    """Make the simulator of `make_project(tmp, …)` answer every call to `model` with a 500."""
    data = sim_config_data()
    data["models"][model]["faults"]["rate_500"] = 1.0
    (tmp / "sim.yaml").write_text(yaml.safe_dump(data))


F = TypeVar("F", bound=Callable[..., Any])


def first_use_migrates(fixture: F) -> F:
    """Mark a fixture taking `db_url` whose first use of it is migrating it to head (as
    `make_project` does): the root conftest's `db_url` may then hand out a database already
    migrated from its template, as it does for `store`."""
    fixture.first_use_migrates = True  # type: ignore[attr-defined]
    return fixture


def make_project(tmp: Path, db_url: str, gateway: dict[str, Any] | None = None) -> Proj:
    """rampway.yaml + releases under `tmp`, published; production → v1 (support-bot)."""
    root = tmp / "proj"
    config = {
        "database": {"url": db_url},
        "providers": {"sim": {"kind": "sim", "options": {"config": str(tmp / "sim.yaml")}}},
        "features": {
            "support-bot": {
                "require_unit": True,
                "retention": {"prompts": True, "redact": [r"\b\d{16}\b"]},
            },
            "echo": {"retention": {"prompts": False}},
            "tools-bot": {},
        },
        "gateway": gateway or {"events": {"flush_interval": 0.05}},
    }
    _write(root / "rampway.yaml", yaml.safe_dump(config, sort_keys=False))
    _write(tmp / "sim.yaml", yaml.safe_dump(sim_config_data()))
    staging = tmp / "staging"
    v1 = load_release(write_release(staging / "v1", "support-bot", support_spec("sim-large"),
                                    {"prompts/system.md": SYSTEM_V1}), feature="support-bot")
    v2 = load_release(write_release(staging / "v2", "support-bot", support_spec("sim-small"),
                                    {"prompts/system.md": SYSTEM_V2}), feature="support-bot")
    echo = load_release(
        write_release(staging / "e", "echo",
                      {"provider": "sim", "model": "sim-small", "mode": "passthrough"}, {}),
        feature="echo",
    )
    tools = load_release(
        write_release(staging / "t", "tools-bot",
                      {"provider": "sim", "model": "sim-large-2", "mode": "passthrough",
                       "tools": TOOLS}, {}),
        feature="tools-bot",
    )
    if db_url.startswith("sqlite:///"):  # the store refuses a URL into a missing directory
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with Store.open(db_url) as store:
        for rel in (v1, v2, echo, tools):
            store.publish(rel.feature, rel.digest, rel.id, rel.canonical, actor="test",
                          reason="test")
        store.set_channel("support-bot", "production", v1.id, actor="test", reason="v1")
        store.set_channel("echo", "production", echo.id, actor="test", reason="init")
        store.set_channel("tools-bot", "production", tools.id, actor="test", reason="init")
    return Proj(load_project(root), db_url, v1, v2, echo, tools)


def sim_config_data() -> dict[str, Any]:
    """Zero latency, no faults, no refusals: deterministic tests."""
    models = {}
    for name in ("sim-large", "sim-small", "sim-large-2"):
        models[name] = {"faults": {"rate_429": 0.0, "rate_500": 0.0, "rate_503": 0.0,
                                   "rate_hang": 0.0, "rate_reset": 0.0,
                                   "rate_midstream_cut": 0.0},
                        "refusal_rate": 0.0}
    return {"time_scale": 0, "fault_seed": 1, "models": models}


def count_rows(db_url: str, table: sa.Table = request_events) -> int:
    with Store.open(db_url) as store, store.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def rows(db_url: str, table: sa.FromClause = request_event_rows) -> list[Any]:
    with Store.open(db_url) as store, store.engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


__all__ = ["feedback_events", "request_events"]


@contextmanager
def serve(runtime: Runtime) -> Iterator[str]:
    """Run the gateway on a real uvicorn server (127.0.0.1, ephemeral port); yields base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(GatewayApp(runtime), log_level="warning", lifespan="on",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


RAMPWAY = str(Path(sys.executable).parent / "rampway")
_LISTENING = re.compile(r"rampway gateway on (http://\S+)/v1 ")


@dataclass
class Served:
    """`rampway serve` in a subprocess: its base URL and its stderr lines (read continuously)."""

    proc: subprocess.Popen[bytes]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal it and wait for its exit (and stderr's EOF, which also proves that children
        sharing stderr, like --with-sim's simulator, have exited). Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        if self.reader is not None:
            self.reader.join(timeout)
            assert not self.reader.is_alive(), "stderr still open: a child outlived the server"
        return code


def start_serve(*args: str, env: Mapping[str, str] | None = None,
                timeout: float = 120) -> Served:
    """Start `rampway serve --port 0 ARGS` and wait until it is ready.

    The port comes from the server's own "rampway gateway on http://…" line, printed once its
    socket is bound: no free-port guess that another process could take in between, and no
    request reaching some other server that happened to get that port.
    """
    proc = subprocess.Popen([RAMPWAY, "serve", "--port", "0", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=None if env is None else dict(env))
    served = Served(proc)
    urls: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            served.lines.append(line)
            found = _LISTENING.search(line)
            if found:
                urls.put(found.group(1))
        urls.put(None)

    served.reader = threading.Thread(target=read, daemon=True)
    served.reader.start()
    deadline = time.monotonic() + timeout
    try:
        url = urls.get(timeout=timeout)
        assert url is not None, f"rampway serve exited: {served.stderr}"
        served.url = url
        _wait_ready(served, deadline)
    except BaseException:
        served.stop(signal.SIGKILL)
        raise
    return served


def _wait_ready(served: Served, deadline: float) -> None:
    while True:
        assert served.proc.poll() is None, f"rampway serve exited: {served.stderr}"
        try:
            if httpx.get(served.url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"not ready in time: {served.stderr}"
        time.sleep(0.05)


def serve_env(**extra: str) -> dict[str, str]:
    """The test's environment for a server subprocess, without inherited rampway settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROMETHEUS_MULTIPROC_DIR", "RAMPWAY_CONTROLLER_INTERVAL")}
    env.update(extra)
    return env


@asynccontextmanager
async def gateway_client(project: Project, **options: Any,
                         ) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """A started Runtime (`Runtime.from_project(project, **options)`) and an in-process client
    on its GatewayApp (no socket); stops on exit."""
    runtime = Runtime.from_project(project, **options)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=GatewayApp(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            yield c, runtime
    finally:
        await runtime.stop()


async def until(predicate: Callable[[], object], seconds: float = 5.0) -> float:
    """Poll `predicate` until it holds; fail after `seconds`. Returns the time it took."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < seconds, "condition not reached in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - t0
