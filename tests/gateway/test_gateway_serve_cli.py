"""`rampway serve`: --with-sim serves through a simulator process; bad arguments exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from gateway_helpers import Proj
from test_gateway_sigterm import _free_port

RAMPWAY = str(Path(sys.executable).parent / "rampway")


@pytest.mark.slow
def test_with_sim_points_sim_providers_at_a_started_simulator(proj: Proj) -> None:
    config = yaml.safe_load(proj.project.config_path.read_text())
    config["sim"] = {"config": str(proj.project.root.parent / "sim.yaml")}
    proj.project.config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    proc = subprocess.Popen(
        [RAMPWAY, "serve", "--with-sim", "--port", str(port),
         "--project", str(proj.project.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        r = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={
                    "model": "echo", "messages": [{"role": "user", "content": "2+2?"}]})
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r is not None and r.status_code == 200, r.text if r else proc.stderr
        assert r.json()["choices"][0]["message"]["content"]
    finally:
        proc.send_signal(signal.SIGTERM)
        # EOF on stderr also proves the simulator process (which shares it) has exited
        _, err = proc.communicate(timeout=30)
    assert "simulator at http://127.0.0.1:" in err.decode()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--workers", "0"], "--workers"),
    (["--port", "70000"], "--port"),
    (["--project", "/nonexistent/dir"], "does not exist"),
])
def test_serve_bad_arguments_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    done = subprocess.run([RAMPWAY, "serve", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


def test_serve_refuses_a_port_in_use(proj: Proj) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [RAMPWAY, "serve", "--port", str(port), "--project", str(proj.project.root)],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: cannot bind")
