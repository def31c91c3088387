"""`rampway serve`: --with-sim serves through a simulator process; bad arguments exit 2.

Why this used to fail in combined runs only, and what makes it deterministic now:
* ports: the test picked a free port, closed it and passed it to the server; any other process
  binding port 0 meanwhile (a combined run starts many servers) could get it, and the server
  could not bind or the test talked to someone else's server. Servers now bind port 0 and the
  test reads the real port from the server's own "rampway gateway on …" line (`start_serve`).
* time under load: starting `rampway serve --with-sim` is two fresh interpreters importing
  rampway; on this 2-core machine under a combined run that measured 45-61 s against the old
  fixed 60 s budget (and the simulator had to report within 30 s). Readiness is now an explicit
  signal (the listening line, then /readyz) with generous bounds, the simulator gets 120 s
  unless it dies, and the first request has its own 60 s timeout instead of 5 s retried.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest
import yaml
from gateway_helpers import RAMPWAY, Proj, serve_env, start_serve


@pytest.mark.slow
def test_with_sim_points_sim_providers_at_a_started_simulator(proj: Proj) -> None:
    config = yaml.safe_load(proj.project.config_path.read_text())
    config["sim"] = {"config": str(proj.project.root.parent / "sim.yaml")}
    proj.project.config_path.write_text(yaml.safe_dump(config))
    served = start_serve("--with-sim", "--no-controller", "--project", str(proj.project.root),
                         env=serve_env())
    try:
        r = httpx.post(f"{served.url}/v1/chat/completions", timeout=60, json={
            "model": "echo", "messages": [{"role": "user", "content": "2+2?"}]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"]
        assert r.headers["x-rampway-release"] == proj.echo.id
    finally:
        served.stop()  # waits for stderr's EOF: the simulator (sharing it) has exited too
    assert "simulator at http://127.0.0.1:" in served.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["--workers", "0"], "--workers"),
    (["--port", "70000"], "--port"),
    (["--project", "/nonexistent/dir"], "does not exist"),
    (["--controller-interval", "0"], "--controller-interval"),
    (["--controller-interval", "nan"], "--controller-interval"),
])
def test_serve_bad_arguments_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    done = subprocess.run([RAMPWAY, "serve", *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


@pytest.mark.parametrize("flag", ["--port", "--ui-port", "--sim-port"])
def test_serve_names_the_port_in_use_before_starting_anything(proj: Proj, flag: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = {"--port": "0", flag: str(port)}
        if flag == "--sim-port":
            args["--with-sim"] = ""
        done = subprocess.run(
            [RAMPWAY, "serve", *[a for kv in args.items() for a in kv if a],
             "--no-controller", "--project", str(proj.project.root)],
            capture_output=True, text=True, timeout=180,
        )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot bind") and f"({flag})" in last, last
    assert "simulator at" not in done.stderr  # nothing was started


def test_serve_refuses_one_port_for_two_listeners(proj: Proj) -> None:
    done = subprocess.run(
        [RAMPWAY, "serve", "--port", "18787", "--ui-port", "18787",
         "--project", str(proj.project.root)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ui-port 18787 is also --port" in lines[0], lines


def test_serve_refuses_a_bad_rollouts_section(proj: Proj) -> None:
    config = yaml.safe_load(proj.project.config_path.read_text())
    config["rollouts"] = {"interval": "soon"}
    proj.project.config_path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [RAMPWAY, "serve", "--port", "0", "--project", str(proj.project.root)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "rollouts.interval" in lines[0]
