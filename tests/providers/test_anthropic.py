"""Anthropic Messages adapter: mapping both ways, SSE events, errors, secrecy.

Mapping details run through httpx.MockTransport; end-to-end behaviour runs over real HTTP
against the simulator further down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from adapter_helpers import SECRET, WEATHER_TOOL, BrokenStream, Recorder, reset_sim, sse

from rampway.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from rampway.providers.anthropic import AnthropicProvider, encode_request
from rampway.providers.sim import SimServer, load_sim_config
from rampway.providers.types import ChatRequest, Message, StreamChunk, ToolCall

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
    ],
    "stop_reason": "tool_use",
    "usage": {
        "input_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
        "output_tokens": 12,
    },
}
WEATHER_FN = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def conversation() -> list[Message]:
    return [
        Message("system", "You are terse."),
        Message("system", "Use metric units."),
        Message("user", "Weather in Oslo and Bergen?"),
        Message(
            "assistant",
            "Checking.",
            tool_calls=[
                ToolCall("t1", "weather", '{"city":"Oslo"}'),
                ToolCall("t2", "weather", '{"city":"Bergen"}'),
            ],
        ),
        Message("tool", "12C", tool_call_id="t1"),
        Message("tool", "9C", tool_call_id="t2"),
        Message("user", "Thanks, and tomorrow?"),
    ]


def request(**kwargs: object) -> ChatRequest:
    return ChatRequest(
        model="claude-sonnet-4-5-20250929", messages=[Message("user", "hi")], **kwargs
    )  # type: ignore[arg-type]


def provider(rec: Recorder) -> AnthropicProvider:
    return AnthropicProvider(
        "claude", base_url="https://anthropic.test", api_key=SECRET, transport=rec.transport
    )


def answer(status: int = 200, body: object = MESSAGE, **headers: str) -> Recorder:
    return Recorder(lambda _: httpx.Response(status, json=body, headers=headers))


def anthropic_error(etype: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": etype, "message": message}}


# -- request encoding ---------------------------------------------------------------------


def test_system_messages_become_the_system_parameter() -> None:
    body = json.loads(encode_request(ChatRequest("m", conversation()), stream=False))
    assert body["system"] == "You are terse.\n\nUse metric units."
    assert all(m["role"] in ("user", "assistant") for m in body["messages"])


def test_tool_calls_and_results_map_to_blocks_in_alternating_turns() -> None:
    body = json.loads(encode_request(ChatRequest("m", conversation()), stream=False))
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]  # tool results merged with the next user turn
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Checking."}
    assert assistant[1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "weather",
        "input": {"city": "Oslo"},
    }
    results = body["messages"][2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "t1", "content": "12C"}
    assert results[1]["tool_use_id"] == "t2"
    assert results[2] == {"type": "text", "text": "Thanks, and tomorrow?"}


def test_params_tools_and_tool_choice_are_translated() -> None:
    req = request(
        temperature=0.3,
        top_p=0.9,
        stop=["END"],
        max_tokens=77,
        user="u-9",
        tools=[WEATHER_FN],
        tool_choice="required",
    )
    body = json.loads(encode_request(req, stream=True))
    assert body["max_tokens"] == 77 and body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["stream"] is True
    assert body["metadata"] == {"user_id": "u-9"}
    assert body["tools"] == [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "any"}
    named = {"type": "function", "function": {"name": "weather"}}
    assert json.loads(encode_request(request(tool_choice=named), stream=False))["tool_choice"] == {
        "type": "tool",
        "name": "weather",
    }
    assert "stream_options" not in body and "seed" not in body


def test_max_tokens_defaults_because_the_api_requires_it() -> None:
    assert (
        json.loads(encode_request(request(), stream=False, default_max_tokens=123))["max_tokens"]
        == 123
    )


def test_response_format_becomes_a_system_instruction_with_the_schema() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    body = json.loads(encode_request(request(response_format=fmt), stream=False))
    assert "JSON schema" in body["system"] and '{"type":"object"}' in body["system"]


def test_tool_arguments_that_are_not_an_object_are_a_bad_request() -> None:
    msgs = [
        Message("user", "x"),
        Message("assistant", None, tool_calls=[ToolCall("t", "f", "[1]")]),
    ]
    with pytest.raises(ProviderBadRequest, match="JSON object"):
        encode_request(ChatRequest("m", msgs), stream=False)


async def test_sends_key_and_version_headers_to_v1_messages() -> None:
    rec = answer()
    await provider(rec).complete(request(), timeout=5)
    sent = rec.requests[0]
    assert sent.url == "https://anthropic.test/v1/messages"
    assert sent.headers["x-api-key"] == SECRET
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers


# -- response decoding --------------------------------------------------------------------


async def test_decodes_blocks_stop_reason_and_cache_usage() -> None:
    resp = await provider(answer()).complete(request(), timeout=5)
    assert resp.content == "Let me check." and resp.finish_reason == "tool_calls"
    assert resp.tool_calls is not None
    assert (resp.tool_calls[0].id, resp.tool_calls[0].name) == ("toolu_1", "weather")
    assert json.loads(resp.tool_calls[0].arguments) == {"city": "Oslo"}
    # input = uncached 20 + cache read 100 + cache write 5; cached = cache read
    assert (resp.usage.input_tokens, resp.usage.cached_tokens, resp.usage.output_tokens) == (
        125,
        100,
        12,
    )


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
async def test_stop_reasons_map_to_finish_reasons(stop: str, finish: str) -> None:
    body = {**MESSAGE, "stop_reason": stop, "content": [{"type": "text", "text": "ok"}]}
    resp = await provider(answer(body=body)).complete(request(), timeout=5)
    assert resp.finish_reason == finish
    assert (resp.refusal is not None) == (stop == "refusal")


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "etype", "message", "expected"),
    [
        (429, "rate_limit_error", "Number of requests has exceeded your rate limit", RateLimited),
        (529, "overloaded_error", "Overloaded", ProviderUnavailable),
        (500, "api_error", "Internal server error", ProviderUnavailable),
        (401, "authentication_error", "invalid x-api-key", ProviderAuthError),
        (403, "permission_error", "no access", ProviderAuthError),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ContextWindowExceeded,
        ),
        (400, "invalid_request_error", "messages: roles must alternate", ProviderBadRequest),
        (404, "not_found_error", "model: claude-9", ProviderBadRequest),
    ],
)
async def test_http_errors_map_onto_the_error_tree(
    status: int, etype: str, message: str, expected: type
) -> None:
    with pytest.raises(expected) as info:
        await provider(
            answer(status, anthropic_error(etype, message), **{"retry-after": "4"})
        ).complete(request(), timeout=5)
    assert message in info.value.message
    if expected is RateLimited:
        assert info.value.retry_after == 4.0


# -- streaming ----------------------------------------------------------------------------


def events(stop: str = "end_turn") -> list[tuple[str, dict[str, object]]]:
    msg = {
        "id": "msg_s",
        "model": "claude-x",
        "usage": {"input_tokens": 30, "cache_read_input_tokens": 10, "output_tokens": 1},
    }
    return [
        ("message_start", {"type": "message_start", "message": msg}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "lo"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": ":1}"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 15},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


async def collect(p: AnthropicProvider) -> list[StreamChunk]:
    return [c async for c in p.stream(request(), timeout=5)]


async def test_stream_maps_text_tool_use_stop_reason_and_usage() -> None:
    rec = Recorder(lambda _: httpx.Response(200, content=sse(*events("tool_use"), named=True)))
    chunks = await collect(provider(rec))
    assert "".join(c.content or "" for c in chunks) == "Hello"
    calls = [d for c in chunks for d in (c.tool_calls or [])]
    assert (calls[0].index, calls[0].id, calls[0].name) == (0, "toolu_9", "f")
    assert "".join(d.arguments for d in calls) == '{"a":1}'
    last = chunks[-1]
    assert last.finish_reason == "tool_calls" and last.usage is not None
    assert (last.usage.input_tokens, last.usage.cached_tokens, last.usage.output_tokens) == (
        40,
        10,
        15,
    )
    assert last.id == "msg_s" and rec.body()["stream"] is True


async def test_stream_cut_before_message_delta_is_interrupted() -> None:
    body = sse(*events()[:5], named=True)
    with pytest.raises(StreamInterrupted):
        await collect(provider(Recorder(lambda _: httpx.Response(200, content=body))))


async def test_stream_reset_after_text_is_interrupted_before_is_connection_error() -> None:
    late = BrokenStream([sse(*events()[:4], named=True)])
    with pytest.raises(StreamInterrupted):
        await collect(provider(Recorder(lambda _: httpx.Response(200, stream=late))))
    early = BrokenStream([sse(*events()[:1], named=True)])
    with pytest.raises(ProviderConnectionError):
        await collect(provider(Recorder(lambda _: httpx.Response(200, stream=early))))


async def test_error_event_is_translated_by_its_type() -> None:
    body = sse(
        events()[0], ("error", anthropic_error("overloaded_error", "Overloaded")), named=True
    )
    with pytest.raises(ProviderUnavailable, match="Overloaded"):
        await collect(provider(Recorder(lambda _: httpx.Response(200, content=body))))


async def test_api_key_never_appears_in_errors_reprs_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    p = provider(
        answer(401, anthropic_error("authentication_error", f"invalid x-api-key {SECRET}"))
    )
    with pytest.raises(ProviderAuthError) as info:
        await p.complete(request(), timeout=5)
    for text in (str(info.value), repr(info.value), repr(p), str(vars(info.value)), caplog.text):
        assert SECRET not in text
    await p.aclose()


# -- over real HTTP against the simulator -------------------------------------------------


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimServer]:
    with SimServer(load_sim_config(), time_scale=0) as server:
        yield server


@pytest.fixture
async def sim(sim_server: SimServer) -> AsyncIterator[AnthropicProvider]:
    reset_sim(sim_server)
    p = AnthropicProvider("sim-anthropic", base_url=sim_server.base_url)
    yield p
    await p.aclose()


def ask(text: str = "What is 17 + 25?", model: str = "sim-small", **kw: Any) -> ChatRequest:
    msgs = [Message("system", "You are a careful assistant."), Message("user", text)]
    return ChatRequest(model=model, messages=msgs, seed=5, **kw)


async def test_sim_messages_complete_over_http(sim: AnthropicProvider) -> None:
    resp = await sim.complete(ask(), timeout=5)
    assert resp.content and resp.finish_reason == "stop" and resp.id.startswith("msg_")
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0


async def test_sim_messages_stream_over_http(sim: AnthropicProvider) -> None:
    chunks = [c async for c in sim.stream(ask(model="sim-large"), timeout=5)]
    assert sum(1 for c in chunks if c.content) > 3
    finish = [c for c in chunks if c.finish_reason]
    assert len(finish) == 1 and finish[0].finish_reason == "stop"
    assert finish[0].usage is not None and finish[0].usage.output_tokens > 0


async def test_sim_tool_use_round_trip_over_http(sim: AnthropicProvider) -> None:
    # The Messages API has no seed: temperature 0 makes the sim's tool decision deterministic.
    req = ask("What's the weather in Oslo right now?", model="sim-large", tools=[WEATHER_TOOL],
              temperature=0)
    resp = await sim.complete(req, timeout=5)
    assert resp.finish_reason == "tool_calls" and resp.tool_calls
    call = resp.tool_calls[0]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    streamed = [c async for c in sim.stream(req, timeout=5)]
    deltas = [d for c in streamed for d in (c.tool_calls or [])]
    assert deltas[0].name == "get_weather" and deltas[0].id
    assert json.loads("".join(d.arguments for d in deltas)) == {"city": "Oslo"}
    # feed the tool result back: tool_use/tool_result blocks must be accepted by the server
    follow = ChatRequest(
        model="sim-large",
        messages=[
            *req.messages,
            Message("assistant", resp.content, tool_calls=resp.tool_calls),
            Message("tool", '{"temp_c": 12}', tool_call_id=call.id),
        ],
        tools=[WEATHER_TOOL],
    )
    final = await sim.complete(follow, timeout=5)
    assert final.finish_reason in ("stop", "tool_calls")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("429", RateLimited),
        ("500", ProviderUnavailable),
        ("503", ProviderUnavailable),
        ("reset", ProviderConnectionError),
    ],
)
async def test_sim_faults_over_http_become_rampway_errors(
    sim_server: SimServer, sim: AnthropicProvider, fault: str, expected: type
) -> None:
    sim_server.patch_config(
        {"models": {"sim-small": {"faults": {"script": [fault], "retry_after_s": 3}}}}
    )
    with pytest.raises(expected) as info:
        await sim.complete(ask(), timeout=5)
    if fault == "429":
        assert info.value.retry_after == 3.0


async def test_sim_midstream_cut_over_http_is_interrupted(
    sim_server: SimServer, sim: AnthropicProvider
) -> None:
    sim_server.patch_config(
        {"models": {"sim-large": {"faults": {"script": ["midstream_cut"], "cut_after_chunks": 6}}}}
    )
    got: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in sim.stream(ask(model="sim-large"), timeout=5):
            got.append(chunk)
    assert any(c.content for c in got) and not any(c.finish_reason for c in got)


async def test_sim_context_overflow_over_http(sim: AnthropicProvider) -> None:
    with pytest.raises(ContextWindowExceeded):
        await sim.complete(ask("word " * 600_000), timeout=10)


async def test_sim_wrong_key_over_http_is_auth_error(sim_server: SimServer) -> None:
    reset_sim(sim_server)
    sim_server.patch_config({"api_key": "sk-right"})
    wrong = AnthropicProvider("a", base_url=sim_server.base_url, api_key=SECRET)
    right = AnthropicProvider("a", base_url=sim_server.base_url, api_key="sk-right")
    try:
        with pytest.raises(ProviderAuthError) as info:
            await wrong.complete(ask(), timeout=5)
        assert SECRET not in str(info.value)
        assert (await right.complete(ask(), timeout=5)).content
    finally:
        sim_server.patch_config({"api_key": None})
        await wrong.aclose()
        await right.aclose()
