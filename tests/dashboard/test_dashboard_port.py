"""`rampway serve --ui-port N`: the dashboard on its own port, the gateway's port without it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
from gateway_helpers import RAMPWAY, make_project, serve_env, start_serve


def test_the_dashboard_moves_to_its_own_port(tmp_path: Path) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'rampway.db'}")
    served = start_serve("--ui-port", "0", "--no-controller", "--project",
                         str(proj.project.root), env=serve_env())
    try:
        found = re.search(r"dashboard on (http://\S+)/ui/ ", served.stderr)
        assert found, served.stderr
        ui = found.group(1)
        assert ui != served.url
        login = httpx.get(f"{ui}/ui/login", timeout=30)
        assert login.status_code == 200 and "<form" in login.text
        root = httpx.get(f"{ui}/", timeout=30)
        assert root.status_code == 307 and root.headers["location"] == "/ui/"
        assert httpx.get(f"{ui}/v1/models", timeout=30).status_code == 404  # no model API
        gone = httpx.get(f"{served.url}/ui/login", timeout=30)
        assert gone.status_code == 404 and "served on port" in gone.json()["error"]["message"]
        assert httpx.get(f"{served.url}/v1/models", timeout=30).status_code == 200
    finally:
        served.stop()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--ui-port", "70000"], "--ui-port"),
    (["--port", "8799", "--ui-port", "8799"], "--ui-port 8799 is also --port"),
])
def test_bad_ui_ports_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    done = subprocess.run([RAMPWAY, "serve", *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
