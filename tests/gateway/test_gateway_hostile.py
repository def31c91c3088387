"""Hostile input (issue #12, defects 3 and 4): every value nothing downstream can carry is a 400
naming the field, never a 500, never a 200 without its event row.

Bodies are raw bytes: a lone surrogate is valid JSON (`"\\ud800"`) that no UTF-8 encoder accepts,
so it must be sent exactly as a hostile client would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gateway_helpers import Proj, count_rows, feedback_events

from rampway.events.model import hash_unit
from rampway.gateway import GatewayApp, Runtime
from rampway.gateway._common import find_unclean

MSG = '[{"role": "user", "content": "hi"}]'

CHAT_CASES: list[tuple[str, bytes, dict[str, str], str]] = [
    # (id, raw body, headers, param the error must name)
    ("surrogate-content",
     b'{"model": "echo", "messages": [{"role": "user", "content": "a\\ud800b"}]}', {},
     "messages[0].content"),
    ("low-surrogate-in-part",
     b'{"model": "echo", "messages": [{"role": "user", "content": [{"type": "text", '
     b'"text": "\\udc00"}]}]}', {}, "messages[0].content[0].text"),
    ("surrogate-user", b'{"model": "echo", "messages": ' + MSG.encode() + b', "user": "\\ud800"}',
     {}, "user"),
    ("surrogate-unit-ext",
     b'{"model": "echo", "messages": ' + MSG.encode() + b', "rampway": {"unit": "\\ud800"}}', {},
     "rampway.unit"),
    ("nul-in-metadata",
     b'{"model": "echo", "messages": ' + MSG.encode() + b', "metadata": {"plan": "a\\u0000"}}',
     {}, "metadata.plan"),
    ("nul-in-var-name",
     b'{"model": "echo", "messages": ' + MSG.encode() + b', "rampway": {"vars": {"a\\u0000": 1}}}',
     {}, "rampway.vars"),
    ("nan-temperature", b'{"model": "echo", "messages": ' + MSG.encode() + b', "temperature": NaN}',
     {}, "temperature"),
    ("huge-exponent", b'{"model": "echo", "messages": ' + MSG.encode() + b', "top_p": 1e400}', {},
     "top_p"),
    ("attributes-header-nul", b'{"model": "echo", "messages": ' + MSG.encode() + b"}",
     {"x-rampway-attributes": '{"plan": "\\u0000"}'}, "X-Rampway-Attributes.plan"),
]


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=GatewayApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


def _error(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    return err


@pytest.mark.parametrize(("body", "headers", "param"), [c[1:] for c in CHAT_CASES],
                         ids=[c[0] for c in CHAT_CASES])
async def test_unusable_values_are_a_400_naming_the_field(
    http: httpx.AsyncClient, runtime: Runtime, proj: Proj,
    body: bytes, headers: dict[str, str], param: str,
) -> None:
    r = await http.post("/v1/chat/completions", content=body,
                        headers={"content-type": "application/json", **headers})
    err = _error(r)
    assert err["param"] == param and err["type"] == "invalid_request_error", err
    assert runtime.writer.flush(5)
    assert count_rows(proj.db_url) == 0


async def test_anthropic_surrogate_is_a_400_in_the_anthropic_shape(
    http: httpx.AsyncClient,
) -> None:
    body = (b'{"model": "echo", "max_tokens": 5, "messages": [{"role": "user", '
            b'"content": "\\ud83d"}]}')
    r = await http.post("/v1/messages", content=body)
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert "messages[0].content" in r.json()["error"]["message"]


async def test_deeply_nested_json_is_a_400_not_a_recursion_error(
    http: httpx.AsyncClient,
) -> None:
    deep = b'{"model": "echo", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for path in ("/v1/chat/completions", "/v1/feedback", "/v1/messages"):
        err = _error(await http.post(path, content=deep))
        assert "nested too deeply" in err["message"]


async def test_a_role_that_is_not_a_string_is_a_400(http: httpx.AsyncClient) -> None:
    for role in ([], {}, 1, None):
        body = {"model": "echo", "messages": [{"role": role, "content": "x"}]}
        err = _error(await http.post("/v1/chat/completions", json=body))
        assert err["param"] == "messages[0].role"


async def test_a_valid_unit_still_answers_and_logs_its_row(
    http: httpx.AsyncClient, runtime: Runtime, proj: Proj
) -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi 😀"}], "user": "ü-😀"}
    r = await http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    assert runtime.writer.flush(5)
    assert count_rows(proj.db_url) == 1


FEEDBACK_CASES: list[tuple[str, bytes, str]] = [
    ("surrogate-unit", b'{"unit": "\\ud800", "name": "x", "value": 1}', "unit"),
    ("nul-request-id", b'{"request_id": "req\\u0000", "name": "x", "value": 1}', "request_id"),
    ("value-1e400", b'{"unit": "u", "name": "x", "value": 1e400}', "value"),
    ("value-huge-int", b'{"unit": "u", "name": "x", "value": 1' + b"0" * 400 + b"}", "value"),
    ("time-1e400", b'{"unit": "u", "name": "x", "value": 1, "time": 1e400}', "time"),
    ("time-huge-int", b'{"unit": "u", "name": "x", "value": 1, "time": 1' + b"0" * 400 + b"}",
     "time"),
    ("value-infinity", b'{"unit": "u", "name": "x", "value": -Infinity}', "value"),
]


@pytest.mark.parametrize(("body", "param"), [c[1:] for c in FEEDBACK_CASES],
                         ids=[c[0] for c in FEEDBACK_CASES])
async def test_hostile_feedback_is_a_400_naming_the_field(
    http: httpx.AsyncClient, runtime: Runtime, proj: Proj, body: bytes, param: str
) -> None:
    err = _error(await http.post("/v1/feedback", content=body))
    assert err["param"] == param, err
    assert runtime.writer.flush(5)
    assert count_rows(proj.db_url, feedback_events) == 0


def test_hashing_a_lone_surrogate_never_raises() -> None:
    # The gateway refuses it; an SDK caller may still pass one. Valid units hash as before.
    assert hash_unit("\ud800") is not None and hash_unit("\ud800") != hash_unit("\udc00")
    assert hash_unit("user-42") == hash_unit("user-42")


def test_find_unclean_names_the_path_of_the_first_problem() -> None:
    assert find_unclean({"a": [1, {"b": "ok"}, {"c": "\x00"}]}) == (
        "a[2].c", "a NUL character (U+0000)")
    assert find_unclean({"x": float("inf")}) == ("x", "a non-finite number (inf)")
    assert find_unclean({"fine": ["text", 1.5, None, True]}) is None
    assert json.dumps(find_unclean("\udfff")) == '["request body", "a lone surrogate (U+DFFF)"]'


async def test_metrics_and_readyz_report_dropped_events(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    runtime.writer.close()  # anything emitted now is dropped (and must be counted)
    r = await http.post("/v1/feedback", json={"unit": "u", "name": "x", "value": 1})
    assert r.status_code == 503
    metrics = (await http.get("/metrics")).text
    assert 'rampway_events_dropped_total{reason="closed"} 1.0' in metrics
    ready = (await http.get("/readyz")).json()
    assert ready["events"]["dropped"] == 1
    assert ready["events"]["dropped_by_reason"] == {"closed": 1}
    assert ready["events"]["dead_letter"].endswith("events.jsonl")
