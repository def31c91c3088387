"""A tiny project on a real simulator over HTTP: one feature `bot` on sim-large → sim-small."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from rampway.config import Project, load_project
from rampway.gateway import GatewayApp, Runtime
from rampway.release import Release, load_release
from rampway.store import Store

RELEASE: dict[str, Any] = {
    "provider": "sim",
    "model": "sim-large",
    "fallbacks": ["sim-small"],
    "params": {"temperature": 0.3, "top_p": 0.9, "max_tokens": 200},
    "messages": {"system": "prompts/system.md", "user": "{{ input }}"},
}
SUITE = """\
cases:
  - file: cases.jsonl
scorers:
  answer: {type: contains}
"""
QUESTIONS = [("What is 2 + 2?", "4"), ("What is 3 + 4?", "7"), ("What is 5 + 5?", "10"),
             ("What is 6 + 3?", "9"), ("What is 8 + 1?", "9"), ("What is 7 + 7?", "14")]


def sim_config() -> dict[str, Any]:
    """Zero latency, no faults or refusals: fast, deterministic runs."""
    quiet = {"faults": {"rate_429": 0.0, "rate_500": 0.0, "rate_503": 0.0, "rate_hang": 0.0,
                        "rate_reset": 0.0, "rate_midstream_cut": 0.0}, "refusal_rate": 0.0}
    return {"time_scale": 0, "fault_seed": 1,
            "models": {m: quiet for m in ("sim-large", "sim-small", "sim-large-2")}}


def make_project(root: Path, db_url: str, sim_url: str, *, catalog: list[Any] | None = None,
                 release: dict[str, Any] | None = None, suite: bool = True) -> Project:
    """rampway.yaml (sim at `sim_url`), releases/bot and, with `suite`, evals/bot."""
    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "database": {"url": db_url},
        "providers": {"sim": {"kind": "sim", "base_url": f"{sim_url}/v1"}},
        "gateway": {"events": {"flush_interval": 0.05}},
    }
    if catalog:
        config["catalog"] = catalog
    (root / "rampway.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    rel = root / "releases" / "bot"
    (rel / "prompts").mkdir(parents=True)
    (rel / "release.yaml").write_text(yaml.safe_dump(release or RELEASE, sort_keys=False))
    (rel / "prompts" / "system.md").write_text("Answer with the number only.\n")
    if suite:
        evals = root / "evals" / "bot"
        evals.mkdir(parents=True)
        (evals / "suite.yaml").write_text(SUITE)
        rows = [f'{{"id": "c{i}", "input": "{q}", "expect": {{"answer": "{a}"}}}}'
                for i, (q, a) in enumerate(QUESTIONS)]
        (evals / "cases.jsonl").write_text("\n".join(rows) + "\n")
    return load_project(root)


def publish_production(project: Project) -> Release:
    """Publish releases/bot and point production at it (the store's own API, no gate)."""
    release = load_release(project.root / "releases" / "bot")
    with Store.open(project.db_url) as store:
        store.publish("bot", release.digest, release.id, release.canonical, actor="test",
                      reason="test")
        store.set_channel("bot", "production", release.id, actor="test", reason="init")
    return release


@contextmanager
def serve(runtime: Runtime) -> Iterator[str]:
    """The gateway on a real uvicorn server (127.0.0.1, ephemeral port); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
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
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Receiver:
    """A webhook receiver on 127.0.0.1: every JSON body POSTed to it, in order."""

    def __init__(self) -> None:
        received: list[Any] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (the stdlib's name)
                length = int(self.headers.get("content-length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.bodies = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
