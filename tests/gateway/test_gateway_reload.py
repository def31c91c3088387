"""Control changes reach a running gateway within 1 s, without a restart."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from gateway_helpers import Proj, serve

from rampway.gateway import Runtime

RAMPWAY = str(Path(sys.executable).parent / "rampway")


def _served(client: httpx.Client) -> str:
    r = client.post("/v1/chat/completions", json={
        "model": "support-bot", "user": "u1", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    return r.headers["x-rampway-release"]


def _wait_for(client: httpx.Client, release_id: str, limit: float = 1.0) -> float:
    """Seconds until the gateway serves `release_id` (fails past `limit`)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if _served(client) == release_id:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError(f"gateway still not serving {release_id} after {limit}s")


def test_cli_rollback_changes_what_a_running_gateway_serves_within_1s(proj: Proj) -> None:
    with serve(Runtime.from_project(proj.project)) as url, httpx.Client(base_url=url) as client:
        assert _served(client) == proj.v1.id
        subprocess.run(
            [RAMPWAY, "channel", "set", "support-bot", "production", proj.v2.id,
             "--skip-gate", "--reason", "ship v2", "--project", str(proj.project.root)],
            check=True, capture_output=True,
        )
        _wait_for(client, proj.v2.id)
        done = subprocess.run(
            [RAMPWAY, "rollback", "support-bot", "--reason", "bad v2",
             "--project", str(proj.project.root)],
            check=True, capture_output=True,
        )
        t_cli = time.monotonic()
        assert proj.v1.id in done.stdout.decode()
        elapsed = _wait_for(client, proj.v1.id)
        assert time.monotonic() - t_cli < 1.0, elapsed


def test_config_file_change_is_picked_up(proj: Proj) -> None:
    path = proj.project.config_path
    with serve(Runtime.from_project(proj.project)) as url, httpx.Client(base_url=url) as client:
        r = client.post("/v1/chat/completions", json={
            "model": "support-bot", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 400  # require_unit
        config = yaml.safe_load(path.read_text())
        config["features"]["support-bot"]["require_unit"] = False
        path.write_text(yaml.safe_dump(config))
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            r = client.post("/v1/chat/completions", json={
                "model": "support-bot", "messages": [{"role": "user", "content": "hi"}]})
            if r.status_code == 200:
                break
            time.sleep(0.05)
        assert r.status_code == 200, r.text


async def test_a_broken_config_edit_keeps_the_previous_snapshot(proj: Proj) -> None:
    rt = Runtime.from_project(proj.project)
    await rt.start()
    try:
        before = rt.watcher.snapshot
        proj.project.config_path.write_text("features: [not, a, mapping\n")
        import asyncio

        await asyncio.sleep(0.6)
        assert rt.watcher.snapshot is before
    finally:
        await rt.stop()


def test_a_provider_edit_says_plainly_that_a_restart_is_needed(proj: Proj) -> None:
    path = proj.project.config_path
    with serve(Runtime.from_project(proj.project)) as url, httpx.Client(base_url=url) as client:
        assert "restart_needed" not in client.get("/readyz").json()
        config = yaml.safe_load(path.read_text())
        name = next(iter(config["providers"]))
        config["providers"][name]["api_key_env"] = "ANOTHER_KEY"
        config["features"]["support-bot"]["require_unit"] = False  # applies at once
        path.write_text(yaml.safe_dump(config))
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            ready = client.get("/readyz")
            if "restart_needed" in ready.json():
                break
            time.sleep(0.05)
        assert ready.status_code == 200  # still serving, on the providers it started with
        assert ready.json()["restart_needed"] == ["providers"]
        assert "providers changed since this gateway started; restart" in ready.json()["message"]
        r = client.post("/v1/chat/completions", json={
            "model": "support-bot", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        config["providers"][name].pop("api_key_env")  # edited back: nothing to restart for
        path.write_text(yaml.safe_dump(config))
        deadline = time.monotonic() + 2.0
        while "restart_needed" in client.get("/readyz").json():
            assert time.monotonic() < deadline
            time.sleep(0.05)
