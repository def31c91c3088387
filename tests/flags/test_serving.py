"""Native flags end to end through the gateway (in-process ASGI + simulated provider).

Kill switch (503 and fallback answer, plain and streamed), model override, max_tokens cap,
release pinning by id and by channel, request-shape rules, and a flag change reaching the
running gateway within a second — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, first_use_migrates, make_project  # noqa: E402

from rampway.flags import FlagSet  # noqa: E402
from rampway.flags.serving import (  # noqa: E402
    decide,
    evaluation_context,
    native_plan,
    request_shape,
)
from rampway.flags.store import FlagStore  # noqa: E402
from rampway.gateway import CallInput, CallRecord, GatewayApp, Hook, Runtime  # noqa: E402
from rampway.providers.types import Message  # noqa: E402
from rampway.store import Store  # noqa: E402


class Capture(Hook):
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def after_call(self, record: CallRecord) -> None:
        self.records.append(record)


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
def capture() -> Capture:
    return Capture()


@pytest.fixture
async def runtime(proj: Proj, capture: Capture) -> AsyncIterator[Runtime]:
    rt = Runtime.from_project(proj.project, hooks=[capture])
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=GatewayApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


async def put_flag(
    proj: Proj, key: str, definition: dict[str, Any], runtime: Runtime
) -> float:
    """Write a flag through the store and wait until the running gateway serves it."""
    with Store.open(proj.db_url) as store:
        t0 = time.perf_counter()
        FlagStore(store).put("flag", key, definition, actor="test", reason="test")
        version = store.control_version()
    deadline = time.monotonic() + 5
    while runtime.watcher.snapshot.version < version:
        assert time.monotonic() < deadline, "the gateway did not reload"
        await asyncio.sleep(0.01)
    return time.perf_counter() - t0


def chat(unit: str = "u1", text: str = "Where is my order?", **extra: Any) -> dict[str, Any]:
    return {"model": "support-bot", "user": unit,
            "messages": [{"role": "user", "content": text}], **extra}


async def test_kill_switch_answers_503_with_a_clear_body_and_no_upstream_call(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime, capture: Capture
) -> None:
    ok = await client.post("/v1/chat/completions", json=chat())
    assert ok.status_code == 200
    off = {"type": "bool", "default": False}
    elapsed = await put_flag(proj, "support-bot.enabled", off, runtime)
    r = await client.post("/v1/chat/completions", json=chat())
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "feature_disabled"
    assert "support-bot.enabled" in error["message"]
    assert r.headers["x-should-retry"] == "false"
    assert len(capture.records) == 1  # the refused call never reached a provider
    assert elapsed < 1.0
    other = await client.post("/v1/chat/completions",
                              json={**chat(), "model": "echo"})
    assert other.status_code == 200  # other features keep serving


async def test_kill_switch_with_fallback_answers_locally_plain_and_streamed(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime, capture: Capture
) -> None:
    await put_flag(proj, "support-bot.fallback",
             {"type": "string", "default": "We are back shortly."}, runtime)
    await put_flag(proj, "support-bot.enabled", {"type": "bool", "default": True,
             "rules": [{"condition": {"plan": "free"}, "value": False}]}, runtime)
    free = {**chat(), "metadata": {"plan": "free"}}
    r = await client.post("/v1/chat/completions", json=free)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "We are back shortly."
    assert capture.records[-1].provider == "rampway" and capture.records[-1].model == "fallback"
    async with client.stream("POST", "/v1/chat/completions", json={**free, "stream": True}) as s:
        body = "".join([line async for line in s.aiter_lines()])
    assert "We are back shortly." in body and body.rstrip().endswith("[DONE]")
    pro = await client.post("/v1/chat/completions", json={**chat(), "metadata": {"plan": "pro"}})
    assert pro.status_code == 200 and capture.records[-1].provider == "sim"


async def test_model_override_for_free_tier_goes_first_and_keeps_the_release_chain(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime, capture: Capture
) -> None:
    await put_flag(proj, "support-bot.model", {"type": "string", "default": "sim-large",
             "rules": [{"condition": {"plan": "free"}, "value": "sim/sim-small"}]}, runtime)
    r = await client.post("/v1/chat/completions", json={**chat(), "metadata": {"plan": "free"}})
    assert r.status_code == 200, r.text
    record = capture.records[-1]
    assert record.model == "sim-small" and record.request.model == "sim-small"  # type: ignore[union-attr]
    assert record.resolution.overrides.targets == (  # type: ignore[union-attr]
        ("sim", "sim-small"), ("sim", "sim-large"), ("sim", "sim-large-2"))
    assert r.headers["x-rampway-model"] == "sim/sim-small"
    assert r.headers["x-rampway-override"] == "support-bot.model"
    await client.post("/v1/chat/completions", json={**chat(), "metadata": {"plan": "pro"}})
    pro = capture.records[-1]
    assert pro.model == "sim-large" and pro.resolution.overrides is None  # type: ignore[union-attr]


async def test_max_tokens_cap_applies_to_long_prompts_only(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime, capture: Capture
) -> None:
    await put_flag(proj, "support-bot.max_tokens", {"type": "number", "default": 1000, "rules": [
        {"condition": {"request.estimated_tokens": {"$gt": 500}}, "value": 32}]}, runtime)
    await client.post("/v1/chat/completions", json=chat())
    assert capture.records[-1].request.max_tokens == 200  # type: ignore[union-attr]  # release's
    r = await client.post("/v1/chat/completions", json=chat(text="order status? " * 300))
    assert r.status_code == 200, r.text
    assert capture.records[-1].request.max_tokens == 32  # type: ignore[union-attr]
    assert r.json()["usage"]["completion_tokens"] <= 32


async def test_release_pinning_by_id_for_a_cohort_and_by_channel(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime
) -> None:
    with Store.open(proj.db_url) as store:
        FlagStore(store).put("segment", "beta", {"ids": ["beta-user"]}, actor="t", reason="test")
    await put_flag(proj, "support-bot.release", {"type": "string", "default": "production",
             "rules": [{"segment": "beta", "value": proj.v2.id}]}, runtime)
    beta = await client.post("/v1/chat/completions", json=chat(unit="beta-user"))
    assert beta.headers["x-rampway-release"] == proj.v2.id
    assert beta.headers["x-rampway-arm"] == proj.v2.id
    other = await client.post("/v1/chat/completions", json=chat(unit="someone"))
    assert other.headers["x-rampway-release"] == proj.v1.id
    with Store.open(proj.db_url) as store:
        store.set_channel("support-bot", "candidate", proj.v2.id, actor="t", reason="test")
    await put_flag(proj, "support-bot.release", {"type": "string", "default": "candidate"}, runtime)
    r = await client.post("/v1/chat/completions", json=chat(unit="someone"))
    assert r.headers["x-rampway-release"] == proj.v2.id
    assert r.headers["x-rampway-arm"] == "candidate"


async def test_request_shape_rules_see_tools_and_streaming(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime, capture: Capture
) -> None:
    await put_flag(proj, "echo.max_tokens", {"type": "number", "default": 1000, "rules": [
        {"condition": {"request.tools": True}, "value": 50},
        {"condition": {"request.stream": True, "request.traffic_class": "chat"}, "value": 60},
    ]}, runtime)
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    await client.post("/v1/chat/completions", json={**chat(), "model": "echo", "tools": [tool]})
    assert capture.records[-1].request.max_tokens == 50  # type: ignore[union-attr]
    async with client.stream("POST", "/v1/chat/completions",
                             json={**chat(), "model": "echo", "stream": True}) as s:
        async for _ in s.aiter_lines():
            pass
    assert capture.records[-1].request.max_tokens == 60  # type: ignore[union-attr]
    await client.post("/v1/chat/completions", json={**chat(), "model": "echo"})
    assert capture.records[-1].request.max_tokens == 1000  # type: ignore[union-attr]


async def test_attributes_cannot_spoof_the_request_shape(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime
) -> None:
    await put_flag(proj, "support-bot.enabled", {"type": "bool", "default": True,
             "rules": [{"condition": {"request.estimated_tokens": {"$gt": 10_000}},
                        "value": False}]}, runtime)
    r = await client.post("/v1/chat/completions",
                          headers={"x-rampway-attributes": json.dumps({"request": 99999})},
                          json=chat())
    assert r.status_code == 200


# -- pure parts -------------------------------------------------------------------------------


def test_request_shape_and_context() -> None:
    call = CallInput("bot", [Message("user", "x" * 400)], unit="u1", stream=True,
                     attributes={"plan": "free", "feature": "spoof", "traffic_class": "batch"},
                     params={"response_format": {"type": "json_object"}})
    shape = request_shape(call)
    assert shape == {"estimated_tokens": 107, "tools": False, "stream": True,
                     "modality": "json", "traffic_class": "batch", "protocol": "openai"}
    ctx = evaluation_context(call, dt.date(2027, 4, 15))
    assert ctx["feature"] == "bot" and ctx["plan"] == "free" and ctx["unit"] == "u1"
    assert ctx["request"] == {**shape, "date": "2027-04-15"}
    no_unit = CallInput("bot", [Message("user", "hi")])
    assert request_shape(no_unit)["traffic_class"] == "batch"
    assert request_shape(CallInput("bot", [], unit="u"))["traffic_class"] == "chat"


def test_request_date_is_todays_utc_date_also_across_midnight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call = CallInput("bot", [Message("user", "hi")])
    before = dt.datetime.now(dt.UTC).date().isoformat()
    date = evaluation_context(call)["request"]["date"]
    assert date in (before, dt.datetime.now(dt.UTC).date().isoformat())
    # the per-day cache turns over at UTC midnight, not at the first request's hour
    midnight = dt.datetime(2027, 4, 16, tzinfo=dt.UTC).timestamp()
    monkeypatch.setattr(time, "time", lambda: midnight - 0.5)
    assert evaluation_context(call)["request"]["date"] == "2027-04-15"
    monkeypatch.setattr(time, "time", lambda: midnight)
    assert evaluation_context(call)["request"]["date"] == "2027-04-16"


def test_decide_reads_only_the_features_native_flags() -> None:
    fs = FlagSet.from_dict({"flags": {
        "bot.enabled": {"type": "bool", "default": True,
                        "rules": [{"condition": {"plan": "free"}, "value": False}]},
        "bot.max_tokens": {"type": "number", "default": 64},
        "bot.other": {"type": "bool", "default": False},
        "plain": {"type": "bool", "default": False},
    }})
    plan = native_plan(fs)
    assert plan == {"bot": {"enabled": "bot.enabled", "max_tokens": "bot.max_tokens"}}
    d = decide(fs, plan["bot"], {"plan": "free"}, None)
    assert (d.enabled, d.max_tokens, d.model, d.release) == (False, 64, None, None)
    assert decide(fs, plan["bot"], {"plan": "pro"}, None).enabled is True
