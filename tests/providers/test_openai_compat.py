"""OpenAI-compatible adapter: wire mapping, SSE, error translation, secrecy.

Mapping details run through httpx.MockTransport (exact bytes in, exact errors out); the
end-to-end behaviour runs over real HTTP against the simulator further down.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from adapter_helpers import (
    SECRET,
    WEATHER_TOOL,
    BrokenStream,
    Recorder,
    error_body,
    reset_sim,
    sse,
)

from rampway.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from rampway.providers.openai_compat import OpenAICompatProvider, encode_request
from rampway.providers.sim import SimServer, load_sim_config
from rampway.providers.types import ChatRequest, Message, StreamChunk, ToolCall

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 3,
        "total_tokens": 123,
        "prompt_tokens_details": {"cached_tokens": 64},
    },
}


def request(**kwargs: object) -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=[Message("user", "Capital of France?")], **kwargs)  # type: ignore[arg-type]


def provider(rec: Recorder, **kwargs: object) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        "openai",
        base_url="https://api.test/v1",
        api_key=SECRET,
        transport=rec.transport,
        **kwargs,  # type: ignore[arg-type]
    )


def answer(status: int = 200, body: object = COMPLETION, **headers: str) -> Recorder:
    return Recorder(lambda _: httpx.Response(status, json=body, headers=headers))


# -- request encoding ---------------------------------------------------------------------


def test_request_body_carries_every_set_field_and_extra_last() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message("system", "be brief"),
            Message("user", "weather?"),
            Message("assistant", None, tool_calls=[ToolCall("c1", "weather", '{"city":"Oslo"}')]),
            Message("tool", "12C", tool_call_id="c1"),
        ],
        temperature=0.2,
        max_tokens=50,
        seed=7,
        stop=["\n\n"],
        tools=[{"type": "function", "function": {"name": "weather", "parameters": {}}}],
        tool_choice="auto",
        response_format={"type": "json_object"},
        user="u1",
        extra={"max_tokens": 60, "logprobs": True},
    )
    body = json.loads(encode_request(req, stream=False))
    assert body["model"] == "m" and body["temperature"] == 0.2 and body["seed"] == 7
    assert body["max_tokens"] == 60 and body["logprobs"] is True  # extra wins
    assert body["messages"][2]["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    assert body["messages"][3] == {"role": "tool", "content": "12C", "tool_call_id": "c1"}
    assert "top_p" not in body and "stream" not in body


def test_streaming_always_asks_for_usage() -> None:
    body = json.loads(encode_request(request(), stream=True))
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_sends_bearer_key_to_the_chat_completions_path() -> None:
    rec = answer()
    await provider(rec).complete(request(), timeout=5)
    sent = rec.requests[0]
    assert sent.url == "https://api.test/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["content-type"] == "application/json"


# -- response decoding --------------------------------------------------------------------


async def test_decodes_content_usage_with_cached_tokens_and_finish() -> None:
    resp = await provider(answer()).complete(request(), timeout=5)
    assert resp.content == "Paris." and resp.finish_reason == "stop"
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.cached_tokens) == (
        120,
        3,
        64,
    )
    assert resp.provider == "openai" and resp.model == "gpt-4o-2024-08-06"
    assert resp.latency_s > 0


async def test_decodes_tool_calls_and_refusals() -> None:
    body = json.loads(json.dumps(COMPLETION))
    body["choices"][0] = {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "refusal": "I can't help with that.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        "finish_reason": "tool_calls",
    }
    resp = await provider(answer(body=body)).complete(request(), timeout=5)
    assert resp.finish_reason == "tool_calls" and resp.content is None
    assert resp.tool_calls is not None and resp.tool_calls[0].name == "f"
    assert resp.refusal == "I can't help with that."


async def test_malformed_success_body_is_a_provider_error_that_falls_back() -> None:
    rec = Recorder(lambda _: httpx.Response(200, content=b"<html>oops</html>"))
    with pytest.raises(ProviderError) as info:
        await provider(rec).complete(request(), timeout=5)
    assert type(info.value) is ProviderError and info.value.falls_back


# -- error translation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, error_body("Rate limit reached", "rate_limit_exceeded"), RateLimited),
        (500, error_body("boom", etype="server_error"), ProviderUnavailable),
        (503, error_body("overloaded"), ProviderUnavailable),
        (529, {"type": "error", "error": {"type": "overloaded_error"}}, ProviderUnavailable),
        (401, error_body("Incorrect API key"), ProviderAuthError),
        (403, error_body("forbidden"), ProviderAuthError),
        (408, error_body("timeout"), ProviderTimeout),
        (404, error_body("The model `x` does not exist", "model_not_found"), ProviderBadRequest),
        (422, error_body("bad"), ProviderBadRequest),
        (400, error_body("bad param", "invalid_value"), ProviderBadRequest),
        (
            400,
            error_body(
                "This model's maximum context length is 8192 tokens.", "context_length_exceeded"
            ),
            ContextWindowExceeded,
        ),
        (
            400,
            error_body("This model's maximum context length is 4096 tokens. However"),
            ContextWindowExceeded,
        ),
        (400, {"error": "the request exceeds the available context size"}, ContextWindowExceeded),
    ],
)
async def test_http_errors_map_onto_the_error_tree(
    status: int, body: object, expected: type[ProviderError]
) -> None:
    with pytest.raises(expected) as info:
        await provider(answer(status, body)).complete(request(), timeout=5)
    assert info.value.status == status and info.value.provider == "openai"
    assert info.value.model == "gpt-4o" and f"HTTP {status}" in info.value.message


async def test_retry_after_seconds_and_ms_are_parsed() -> None:
    with pytest.raises(RateLimited) as info:
        await provider(answer(429, error_body("slow"), **{"retry-after": "3"})).complete(
            request(), timeout=5
        )
    assert info.value.retry_after == 3.0
    rec = answer(429, error_body("slow"), **{"retry-after": "3", "retry-after-ms": "250"})
    with pytest.raises(RateLimited) as info:
        await provider(rec).complete(request(), timeout=5)
    assert info.value.retry_after == 0.25


async def test_retry_after_http_date_is_parsed() -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    date = email.utils.format_datetime(when, usegmt=True)
    with pytest.raises(RateLimited) as info:
        await provider(answer(429, error_body("slow"), **{"retry-after": date})).complete(
            request(), timeout=5
        )
    assert info.value.retry_after is not None and 27 <= info.value.retry_after <= 30


async def test_503_retry_after_is_kept_too() -> None:
    with pytest.raises(ProviderUnavailable) as info:
        await provider(answer(503, error_body("busy"), **{"retry-after": "2"})).complete(
            request(), timeout=5
        )
    assert info.value.retry_after == 2.0


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), ProviderConnectionError),
        (httpx.ReadError("reset"), ProviderConnectionError),
        (httpx.RemoteProtocolError("eof"), ProviderConnectionError),
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectTimeout("slow"), ProviderTimeout),
        (httpx.PoolTimeout("busy"), ProviderTimeout),
    ],
)
async def test_transport_failures_map_onto_the_error_tree(
    exc: Exception, expected: type[ProviderError]
) -> None:
    def fail(_: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(expected) as info:
        await provider(Recorder(fail)).complete(request(), timeout=5)
    assert info.value.__cause__ is exc


# -- streaming ----------------------------------------------------------------------------

CHUNKS = [
    {
        "id": "c",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    },
    {"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "Par"}}]},
    {"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "is."}}]},
    {"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {
        "id": "c",
        "model": "gpt-4o",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    },
]


async def collect(p: OpenAICompatProvider) -> list[StreamChunk]:
    return [c async for c in p.stream(request(), timeout=5)]


async def test_stream_yields_content_finish_and_usage() -> None:
    rec = Recorder(lambda _: httpx.Response(200, content=sse(*CHUNKS, done=True)))
    chunks = await collect(provider(rec))
    assert "".join(c.content or "" for c in chunks) == "Paris."
    assert chunks[3].finish_reason == "stop"
    assert chunks[4].usage is not None and chunks[4].usage.output_tokens == 2
    assert rec.body()["stream_options"] == {"include_usage": True}
    assert rec.requests[0].headers["accept"] == "text/event-stream"


async def test_stream_tool_call_deltas_are_passed_through() -> None:
    delta = {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": '{"a":'},
            }
        ]
    }
    more = {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}
    events = [
        {"choices": [{"index": 0, "delta": delta}]},
        {"choices": [{"index": 0, "delta": more}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    chunks = await collect(
        provider(Recorder(lambda _: httpx.Response(200, content=sse(*events, done=True))))
    )
    calls = [d for c in chunks for d in (c.tool_calls or [])]
    assert calls[0].id == "call_1" and calls[0].name == "f"
    assert "".join(d.arguments for d in calls) == '{"a":1}'
    assert chunks[-1].finish_reason == "tool_calls"


@pytest.mark.parametrize("done", [True, False])
async def test_stream_ending_without_finish_reason_raises_interrupted(done: bool) -> None:
    body = sse(*CHUNKS[:3], done=done)
    with pytest.raises(StreamInterrupted):
        await collect(provider(Recorder(lambda _: httpx.Response(200, content=body))))


async def test_connection_reset_mid_stream_after_content_is_interrupted() -> None:
    stream = BrokenStream([sse(*CHUNKS[:2])])
    rec = Recorder(lambda _: httpx.Response(200, stream=stream))
    got: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted) as info:
        async for chunk in provider(rec).stream(request(), timeout=5):
            got.append(chunk)
    assert [c.content for c in got] == ["", "Par"]
    assert isinstance(info.value.__cause__, httpx.ReadError)


async def test_connection_reset_before_any_chunk_is_a_connection_error() -> None:
    rec = Recorder(lambda _: httpx.Response(200, stream=BrokenStream([b": keepalive\n\n"])))
    with pytest.raises(ProviderConnectionError):
        await collect(provider(rec))


async def test_stream_http_error_status_is_translated() -> None:
    rec = answer(429, error_body("slow down"), **{"retry-after": "1.5"})
    with pytest.raises(RateLimited) as info:
        await collect(provider(rec))
    assert info.value.retry_after == 1.5


async def test_error_event_inside_a_stream_is_translated() -> None:
    body = sse({"error": {"message": "upstream overloaded", "type": "server_error"}})
    with pytest.raises(ProviderUnavailable, match="upstream overloaded"):
        await collect(provider(Recorder(lambda _: httpx.Response(200, content=body))))
    late = sse(*CHUNKS[:2], {"error": {"message": "oops", "code": 500}})
    with pytest.raises(StreamInterrupted, match="oops"):
        await collect(provider(Recorder(lambda _: httpx.Response(200, content=late))))


# -- secrecy ------------------------------------------------------------------------------


async def test_api_key_never_appears_in_errors_reprs_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = error_body(f"Incorrect API key provided: {SECRET}. Find yours at ...", "invalid_api_key")
    p = provider(answer(401, echo))
    with pytest.raises(ProviderAuthError) as info:
        await p.complete(request(), timeout=5)
    texts = [str(info.value), repr(info.value), info.value.message, repr(p), str(vars(info.value))]
    texts.append(caplog.text)
    with pytest.raises(ProviderAuthError) as streamed:
        await collect(p)
    texts += [str(streamed.value), repr(streamed.value)]
    assert "***" in info.value.message
    for text in texts:
        assert SECRET not in text
    await p.aclose()


# -- over real HTTP against the simulator -------------------------------------------------


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimServer]:
    with SimServer(load_sim_config(), time_scale=0) as server:
        yield server


@pytest.fixture
async def sim(sim_server: SimServer) -> AsyncIterator[OpenAICompatProvider]:
    reset_sim(sim_server)
    p = OpenAICompatProvider("sim", base_url=sim_server.openai_base_url)
    yield p
    await p.aclose()


def ask(text: str = "What is 17 + 25?", model: str = "sim-small", **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", text)], seed=3, **kw)


async def test_sim_complete_over_http(sim: OpenAICompatProvider) -> None:
    resp = await sim.complete(ask(), timeout=5)
    assert resp.content and resp.finish_reason == "stop" and resp.model == "sim-small"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert resp.id.startswith("chatcmpl-")


async def test_sim_stream_over_http_ends_with_finish_and_usage(sim: OpenAICompatProvider) -> None:
    chunks = [c async for c in sim.stream(ask(model="sim-large"), timeout=5)]
    text = "".join(c.content or "" for c in chunks)
    assert text and sum(1 for c in chunks if c.content) > 3  # really streamed in pieces
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].output_tokens > 0


async def test_sim_tool_calls_over_http_both_modes(sim: OpenAICompatProvider) -> None:
    req = ask("What's the weather in Oslo right now?", model="sim-large", tools=[WEATHER_TOOL])
    resp = await sim.complete(req, timeout=5)
    assert resp.finish_reason == "tool_calls" and resp.tool_calls
    assert resp.tool_calls[0].name == "get_weather"
    assert json.loads(resp.tool_calls[0].arguments) == {"city": "Oslo"}
    chunks = [c async for c in sim.stream(req, timeout=5)]
    deltas = [d for c in chunks for d in (c.tool_calls or [])]
    assert deltas[0].name == "get_weather"
    assert json.loads("".join(d.arguments for d in deltas)) == {"city": "Oslo"}
    assert chunks[-1].finish_reason == "tool_calls" or chunks[-2].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [
        ("429", RateLimited, 429),
        ("500", ProviderUnavailable, 500),
        ("503", ProviderUnavailable, 503),
        ("reset", ProviderConnectionError, None),
    ],
)
async def test_sim_faults_over_http_become_rampway_errors(
    sim_server: SimServer,
    sim: OpenAICompatProvider,
    fault: str,
    expected: type[ProviderError],
    status: int | None,
) -> None:
    sim_server.patch_config(
        {"models": {"sim-small": {"faults": {"script": [fault], "retry_after_s": 2.5}}}}
    )
    with pytest.raises(expected) as info:
        await sim.complete(ask(), timeout=5)
    assert info.value.status == status
    if fault == "429":
        assert info.value.retry_after == 2.5
    assert (await sim.complete(ask(), timeout=5)).content  # script used up: healthy again


async def test_sim_hang_over_http_times_out_at_the_deadline(
    sim_server: SimServer, sim: OpenAICompatProvider
) -> None:
    sim_server.patch_config(
        {"models": {"sim-small": {"faults": {"script": ["hang"], "hang_s": 2}}}}
    )
    started = time.perf_counter()
    with pytest.raises(ProviderTimeout):
        await sim.complete(ask(), timeout=0.3)
    assert 0.25 < time.perf_counter() - started < 1.5


async def test_sim_midstream_cut_over_http_is_interrupted_after_partial_output(
    sim_server: SimServer, sim: OpenAICompatProvider
) -> None:
    sim_server.patch_config(
        {"models": {"sim-large": {"faults": {"script": ["midstream_cut"], "cut_after_chunks": 3}}}}
    )
    got: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in sim.stream(ask(model="sim-large"), timeout=5):
            got.append(chunk)
    assert any(c.content for c in got)
    assert not any(c.finish_reason for c in got)


async def test_sim_context_overflow_over_http(sim: OpenAICompatProvider) -> None:
    with pytest.raises(ContextWindowExceeded, match="maximum context length"):
        await sim.complete(ask("word " * 600_000), timeout=10)


async def test_sim_wrong_key_over_http_is_auth_error_and_key_stays_secret(
    sim_server: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reset_sim(sim_server)
    sim_server.patch_config({"api_key": "sk-the-right-one"})
    wrong = OpenAICompatProvider("sim", base_url=sim_server.openai_base_url, api_key=SECRET)
    right = OpenAICompatProvider(
        "sim", base_url=sim_server.openai_base_url, api_key="sk-the-right-one"
    )
    try:
        with pytest.raises(ProviderAuthError) as info:
            await wrong.complete(ask(), timeout=5)
        with pytest.raises(ProviderAuthError) as streamed:
            await collect_stream(wrong.stream(ask(), timeout=5))
        assert (await right.complete(ask(), timeout=5)).content
        for text in (str(info.value), repr(info.value), str(streamed.value), caplog.text):
            assert SECRET not in text
    finally:
        sim_server.patch_config({"api_key": None})
        await wrong.aclose()
        await right.aclose()


async def test_connection_refused_is_a_connection_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAICompatProvider("gone", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderConnectionError):
        await p.complete(ask(), timeout=2)
    await p.aclose()


async def collect_stream(stream: AsyncIterator[StreamChunk]) -> list[StreamChunk]:
    return [c async for c in stream]
