"""App keys: hashed at rest, required once one exists, optionally limited to features."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import sqlalchemy as sa
from gateway_helpers import Proj, make_project, serve

from rampway.events.tables import app_keys
from rampway.gateway import GatewayApp, Runtime
from rampway.gateway.keys import create_key, hash_key, revoke_key
from rampway.store import Store

RAMPWAY = str(Path(sys.executable).parent / "rampway")
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}


async def _client(rt: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=GatewayApp(rt)),
                             base_url="http://gw")


async def test_keys_are_required_once_one_exists_and_limits_apply(proj: Proj) -> None:
    with Store.open(proj.db_url) as store:
        _, full = create_key(store, "backend", features=None, actor="t", reason="test")
        _, limited = create_key(store, "widget", features=["echo"], actor="t", reason="test")
        with store.engine.connect() as conn:
            stored = {r.name: r.key_hash for r in conn.execute(sa.select(app_keys))}
    assert stored["backend"] == hash_key(full) and full not in stored.values()

    rt = Runtime.from_project(proj.project)
    await rt.start()
    try:
        async with await _client(rt) as c:
            r = await c.post("/v1/chat/completions", json=CHAT)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            r = await c.post("/v1/chat/completions", json=CHAT,
                             headers={"authorization": "Bearer rwk_wrong"})
            assert r.status_code == 401
            ok = await c.post("/v1/chat/completions", json=CHAT,
                              headers={"authorization": f"Bearer {full}"})
            assert ok.status_code == 200
            anth = await c.post("/v1/messages", headers={"x-api-key": limited}, json={
                **CHAT, "max_tokens": 20})
            assert anth.status_code == 200
            denied = await c.post("/v1/chat/completions", headers={
                "authorization": f"Bearer {limited}"}, json={**CHAT, "model": "tools-bot"})
            assert denied.status_code == 403
            assert denied.json()["error"]["code"] == "permission_denied"
            models = await c.get("/v1/models", headers={"authorization": f"Bearer {limited}"})
            assert [m["id"] for m in models.json()["data"]] == ["echo"]
            fb = await c.post("/v1/feedback", headers={"authorization": f"Bearer {limited}"},
                              json={"unit": "u", "feature": "tools-bot", "name": "x", "value": 1})
            assert fb.status_code == 403
            assert (await c.get("/healthz")).status_code == 200  # probes stay open
            assert (await c.get("/metrics")).status_code == 200

            with Store.open(proj.db_url) as store:
                revoke_key(store, "widget", actor="t", reason="test")
            deadline = time.monotonic() + 1.0
            status = 200
            while time.monotonic() < deadline and status != 401:
                await asyncio.sleep(0.02)  # the in-process sim never suspends: let the watcher run
                status = (await c.post("/v1/chat/completions", json=CHAT,
                                       headers={"authorization": f"Bearer {limited}"})).status_code
            assert status == 401
    finally:
        await rt.stop()


def test_official_sdks_send_the_key(proj: Proj) -> None:
    with Store.open(proj.db_url) as store:
        _, key = create_key(store, "sdk", features=None, actor="t", reason="test")
    with serve(Runtime.from_project(proj.project)) as url:
        with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0) as c:
            assert c.chat.completions.create(**CHAT).choices[0].message.content  # type: ignore[call-overload]
        with openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0) as c, \
                pytest.raises(openai.AuthenticationError):
            c.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0) as a:
            assert a.messages.create(max_tokens=20, **CHAT).content  # type: ignore[call-overload]


async def test_keys_declared_in_config_as_hashes(tmp_path: Path) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", gateway={
        "keys": [{"name": "ci", "sha256": hash_key("rwk_from_config"), "features": ["echo"]}]})
    rt = Runtime.from_project(proj.project)
    await rt.start()
    try:
        async with await _client(rt) as c:
            assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 401
            r = await c.post("/v1/chat/completions", json=CHAT,
                             headers={"authorization": "Bearer rwk_from_config"})
            assert r.status_code == 200
    finally:
        await rt.stop()


def test_keys_cli_create_list_revoke(proj: Proj) -> None:
    from typer.testing import CliRunner

    from rampway.cli import (
        _register,  # noqa: F401  (attaches the commands)
        app,
    )

    base = ["--project", str(proj.project.root)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        res = CliRunner().invoke(app, ["keys", *args, *base])
        return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)

    created = run("create", "mobile", "--feature", "echo", "--reason", "new iOS app", "--json")
    assert created.returncode == 0, created.stderr
    doc = json.loads(created.stdout)
    assert doc["name"] == "mobile" and doc["features"] == ["echo"] and doc["key"].startswith("rwk_")
    listed = json.loads(run("list", "--json").stdout)
    assert [k["name"] for k in listed["keys"]] == ["mobile"]
    assert "key" not in listed["keys"][0]
    dup = run("create", "mobile", "--reason", "again")
    assert dup.returncode == 2 and dup.stderr.startswith("error: ")
    assert "already exists" in dup.stderr
    for blank in ([], ["--reason", "  "]):  # audited writes say why, as on every road
        for refused in (run("create", "web", *blank), run("revoke", "mobile", *blank)):
            assert refused.returncode == 2 and refused.stderr.count("\n") == 1
            assert "app key" in refused.stderr and "needs a reason" in refused.stderr
    assert [k["name"] for k in json.loads(run("list", "--json").stdout)["keys"]] == ["mobile"]
    assert run("revoke", "mobile", "--reason", "leaked").returncode == 0
    with Store.open(proj.db_url) as store:
        audit = {a.action: a.reason for a in store.list_audit(object_type="app_key", limit=10)}
    assert audit == {"key.create": "new iOS app", "key.revoke": "leaked"}
    again = run("revoke", "mobile", "--reason", "twice")
    assert again.returncode == 2 and "no active app key" in again.stderr
