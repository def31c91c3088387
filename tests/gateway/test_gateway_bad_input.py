"""Every kind of bad input gets a 4xx with an OpenAI-style JSON error — never a 5xx, never a
crash, never an event row."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gateway_helpers import Proj, count_rows, feedback_events

from rampway.gateway import Runtime

MSG = [{"role": "user", "content": "hi"}]
OK = {"model": "echo", "messages": MSG}

CHAT_CASES: list[tuple[str, Any, dict[str, str], int, str]] = [
    # (id, body (bytes = raw), headers, status, message fragment)
    ("malformed-json", b'{"model": "echo", "messages": [', {}, 400, "not valid JSON"),
    ("empty-body", b"", {}, 400, "empty"),
    ("not-an-object", [1, 2], {}, 400, "JSON object"),
    ("missing-model", {"messages": MSG}, {}, 400, "'model'"),
    ("model-not-string", {"model": 3, "messages": MSG}, {}, 400, "'model'"),
    ("unknown-feature", {"model": "nope", "messages": MSG}, {}, 404, "unknown feature"),
    ("missing-unit", {"model": "support-bot", "messages": MSG}, {}, 400, "requires a unit"),
    ("messages-missing", {"model": "echo"}, {}, 400, "'messages'"),
    ("messages-empty", {"model": "echo", "messages": []}, {}, 400, "'messages'"),
    ("bad-role", {"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}, {}, 400,
     "role"),
    ("image-part", {"model": "echo", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}, {}, 400,
     "only text parts"),
    ("tool-without-id", {"model": "echo", "messages": [{"role": "tool", "content": "x"}]}, {},
     400, "tool_call_id"),
    ("temperature-range", {**OK, "temperature": 7}, {}, 400, "temperature"),
    ("temperature-type", {**OK, "temperature": "hot"}, {}, 400, "temperature"),
    ("max-tokens-negative", {**OK, "max_tokens": -1}, {}, 400, "max_tokens"),
    ("n-two", {**OK, "n": 2}, {}, 400, "n=1"),
    ("stream-not-bool", {**OK, "stream": "yes"}, {}, 400, "stream"),
    ("bad-tools", {**OK, "tools": [{"type": "retrieval"}]}, {}, 400, "tools"),
    ("bad-tool-choice", {**OK, "tool_choice": "always"}, {}, 400, "tool_choice"),
    ("bad-response-format", {**OK, "response_format": {"type": "xml"}}, {}, 400,
     "response_format"),
    ("attributes-header-not-json", OK, {"x-rampway-attributes": "{plan: pro"}, 400,
     "X-Rampway-Attributes"),
    ("attributes-header-nested", OK, {"x-rampway-attributes": '{"plan": {"tier": 1}}'}, 400,
     "attribute 'plan'"),
    ("attributes-header-array", OK, {"x-rampway-attributes": "[1]"}, 400, "JSON object"),
    ("metadata-not-object", {**OK, "metadata": "pro"}, {}, 400, "metadata"),
    ("rampway-ext-unknown-key", {**OK, "rampway": {"variables": {}}}, {}, 400, "unknown keys"),
    ("rampway-vars-not-object", {**OK, "rampway": {"vars": [1]}}, {}, 400, "rampway.vars"),
    ("oversized-body", {**OK, "padding": "x" * 1_100_000}, {}, 413, "exceeds"),
]


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    from rampway.gateway import GatewayApp

    transport = httpx.ASGITransport(app=GatewayApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


def _check_error(r: httpx.Response, status: int, fragment: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-should-retry"] == "false"
    body = r.json()
    err = body["error"]
    assert fragment in err["message"], err
    assert set(err) >= {"message", "type", "param", "code"}
    return err  # type: ignore[no-any-return]


@pytest.mark.parametrize(("body", "headers", "status", "fragment"),
                         [c[1:] for c in CHAT_CASES], ids=[c[0] for c in CHAT_CASES])
async def test_bad_chat_request_is_a_4xx_json_error(
    http: httpx.AsyncClient, runtime: Runtime, proj: Proj,
    body: Any, headers: dict[str, str], status: int, fragment: str,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = await http.post("/v1/chat/completions", content=content,
                        headers={"content-type": "application/json", **headers})
    _check_error(r, status, fragment)
    assert runtime.writer.flush(5)
    assert count_rows(proj.db_url) == 0


async def test_oversized_body_without_content_length_is_cut_off(
    http: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "echo", "padding": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    r = await http.post("/v1/chat/completions", content=chunks())
    _check_error(r, 413, "exceeds")


async def test_unknown_route_and_wrong_method_are_404(http: httpx.AsyncClient) -> None:
    _check_error(await http.get("/v1/nothing"), 404, "no endpoint")
    _check_error(await http.get("/v1/chat/completions"), 404, "no endpoint")


ANTHROPIC_CASES: list[tuple[str, Any, int, str]] = [
    ("bad-block", {"model": "echo", "max_tokens": 5, "messages": [
        {"role": "user", "content": [{"type": "image", "source": {}}]}]}, 400, "blocks"),
    ("bad-role", {"model": "echo", "max_tokens": 5,
                  "messages": [{"role": "system", "content": "x"}]}, 400, "role"),
    ("temperature", {"model": "echo", "max_tokens": 5, "temperature": 1.5,
                     "messages": MSG}, 400, "temperature"),
    ("bad-tool-choice", {"model": "echo", "max_tokens": 5, "tool_choice": {"type": "x"},
                         "messages": MSG}, 400, "tool_choice"),
    ("unknown-feature", {"model": "nope", "max_tokens": 5, "messages": MSG}, 404, "unknown"),
]


@pytest.mark.parametrize(("body", "status", "fragment"), [c[1:] for c in ANTHROPIC_CASES],
                         ids=[c[0] for c in ANTHROPIC_CASES])
async def test_bad_messages_request_is_a_4xx_anthropic_error(
    http: httpx.AsyncClient, body: Any, status: int, fragment: str
) -> None:
    r = await http.post("/v1/messages", json=body)
    assert r.json()["type"] == "error"
    _check_error(r, status, fragment)


FEEDBACK_CASES: list[tuple[str, Any, str]] = [
    ("no-target", {"name": "thumbs", "value": 1}, "request_id"),
    ("no-name", {"request_id": "req_1", "value": 1}, "'name'"),
    ("bad-name", {"request_id": "req_1", "name": "a b", "value": 1}, "'name'"),
    ("value-string", {"request_id": "req_1", "name": "x", "value": "1"}, "'value'"),
    ("value-missing", {"request_id": "req_1", "name": "x"}, "'value'"),
    ("time-garbage", {"unit": "u", "name": "x", "value": 1, "time": "yesterday"}, "ISO 8601"),
    ("time-future", {"unit": "u", "name": "x", "value": 1, "time": 9e12}, "out of range"),
    ("unknown-field", {"unit": "u", "name": "x", "value": 1, "score": 3}, "unknown field"),
    ("attributes-nested", {"unit": "u", "name": "x", "value": 1, "attributes": {"a": [1]}},
     "attribute 'a'"),
]


@pytest.mark.parametrize(("body", "fragment"), [c[1:] for c in FEEDBACK_CASES],
                         ids=[c[0] for c in FEEDBACK_CASES])
async def test_bad_feedback_is_400_and_writes_nothing(
    http: httpx.AsyncClient, runtime: Runtime, proj: Proj, body: Any, fragment: str
) -> None:
    r = await http.post("/v1/feedback", json=body)
    _check_error(r, 400, fragment)
    assert runtime.writer.flush(5)
    assert count_rows(proj.db_url, feedback_events) == 0


async def test_value_nan_is_refused(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/feedback", content=b'{"unit": "u", "name": "x", "value": NaN}')
    _check_error(r, 400, "'value'")
