"""The admin API mounted in the gateway: a flag change through it reaches serving within 1 s;
admin keys and app keys don't stand in for each other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from admin_helpers import Keys
from gateway_helpers import Proj

from rampway.admin import PREFIX
from rampway.gateway import GatewayApp, Runtime
from rampway.gateway.keys import create_key
from rampway.store import Store

CHAT = {"model": "support-bot", "user": "u1",
        "messages": [{"role": "user", "content": "Where is my order?"}]}


@pytest.fixture
async def gateway(proj: Proj) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime.from_project(proj.project)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=GatewayApp(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client
    finally:
        await runtime.stop()


async def _until(client: httpx.AsyncClient, status: int, limit: float) -> float:
    t0 = time.perf_counter()
    while True:
        r = await client.post("/v1/chat/completions", json=CHAT)
        if r.status_code == status:
            return time.perf_counter() - t0
        assert time.perf_counter() - t0 < limit, f"still {r.status_code} after {limit} s"
        await asyncio.sleep(0.01)


async def test_kill_switch_through_the_admin_api_reaches_the_gateway_within_a_second(
    gateway: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    assert (await gateway.post("/v1/chat/completions", json=CHAT)).status_code == 200
    r = await gateway.put(f"{PREFIX}/flags/support-bot.enabled",
                          json={"definition": {"type": "bool", "default": False},
                                "reason": "incident 7"}, headers=keys.headers("editor"))
    assert r.status_code == 201, r.text
    off_after = await _until(gateway, 503, 1.0)
    r = await gateway.put(f"{PREFIX}/flags/support-bot.enabled",
                          json={"definition": {"type": "bool", "default": True},
                                "reason": "fixed"},
                          headers={**keys.headers("editor"), "if-match": r.headers["etag"]})
    assert r.status_code == 200
    on_after = await _until(gateway, 200, 1.0)
    assert off_after < 1.0 and on_after < 1.0
    (entry, *_) = store.list_audit(object_type="flag", object_id="support-bot.enabled")
    assert (entry.actor, entry.reason) == ("editor-key", "fixed")


async def test_app_keys_and_admin_keys_are_separate(
    gateway: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    _, app_key = create_key(store, "web", features=None, actor="t", reason="test")
    await _until(gateway, 401, 2.0)  # the gateway picked the app key up: keys now required
    app_auth = {"authorization": f"Bearer {app_key}"}
    assert (await gateway.post("/v1/chat/completions", json=CHAT,
                               headers=app_auth)).status_code == 200
    assert (await gateway.get(f"{PREFIX}/whoami", headers=app_auth)).status_code == 401
    admin = await gateway.get(f"{PREFIX}/whoami", headers=keys.headers("viewer"))
    assert admin.status_code == 200 and admin.json()["role"] == "viewer"
    admin_on_chat = await gateway.post("/v1/chat/completions", json=CHAT,
                                       headers=keys.headers("admin"))
    assert admin_on_chat.status_code == 401
    ofrep = "/ofrep/v1/evaluate/flags"
    assert (await gateway.post(ofrep, json={})).status_code == 401
    assert (await gateway.post(ofrep, json={}, headers=app_auth)).status_code == 200
