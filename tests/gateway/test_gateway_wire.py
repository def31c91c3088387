"""Wire formats (pure): OpenAI/Anthropic requests → CallInput, results → JSON and SSE."""

from __future__ import annotations

import json

import pytest

from rampway.errors import RequestError, StreamInterrupted
from rampway.gateway import _anthropic, _openai
from rampway.gateway.call import CallInput, CallRecord
from rampway.providers.types import (
    ChatResponse,
    Message,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def _record(**kw: object) -> CallRecord:
    return CallRecord(call=CallInput("f", [Message("user", "x")], request_id="req_1"),
                      started=1000.0, usage=Usage(3, 4, 1), **kw)  # type: ignore[arg-type]


def test_openai_request_unit_attributes_vars_and_params() -> None:
    call = _openai.parse_request(
        {"model": "rampway/support-bot", "user": "body-user", "temperature": 0.5,
         "max_completion_tokens": 50, "stop": "END", "metadata": {"plan": "free"},
         "messages": [{"role": "developer", "content": "be brief"},
                      {"role": "user", "content": [{"type": "text", "text": "a"},
                                                   {"type": "text", "text": "b"}]}],
         "rampway": {"vars": {"name": "Ada"}, "attributes": {"beta": True}},
         "stream": True, "stream_options": {"include_usage": True}},
        {"x-rampway-unit": "header-user"},
    )
    assert call.feature == "support-bot"
    assert call.unit == "header-user"  # the header wins over the body's `user`
    assert call.attributes == {"plan": "free", "beta": True}
    assert call.variables == {"name": "Ada"}
    assert call.params == {"temperature": 0.5, "max_tokens": 50, "stop": ["END"]}
    assert [m.role for m in call.messages] == ["system", "user"]
    assert call.messages[1].content == "ab"
    assert call.stream and call.include_usage


def test_openai_attributes_header_replaces_metadata() -> None:
    call = _openai.parse_request(
        {"model": "f", "metadata": {"plan": "free"}, "messages": [{"role": "user",
                                                                   "content": "x"}]},
        {"x-rampway-attributes": '{"plan": "pro", "country": "DE"}'},
    )
    assert call.attributes == {"plan": "pro", "country": "DE"}


def test_openai_assistant_tool_calls_and_tool_results() -> None:
    msgs = _openai.parse_messages([
        {"role": "user", "content": "order?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"id": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
    ])
    assert msgs[1].tool_calls == [ToolCall("c1", "lookup", '{"id": 1}')]
    assert msgs[2].role == "tool" and msgs[2].tool_call_id == "c1"


def test_openai_response_json() -> None:
    resp = ChatResponse(id="up", model="sim-large", content=None, finish_reason="tool_calls",
                        usage=Usage(3, 4, 1), tool_calls=[ToolCall("c1", "lookup", "{}")])
    body = _openai.render_response(_record(), resp)
    assert body["id"] == "req_1" and body["created"] == 1000
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "lookup",
                                                              "arguments": "{}"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                             "prompt_tokens_details": {"cached_tokens": 1}}


def _sse_data(raw: bytes) -> list[object]:
    out: list[object] = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            payload = line[6:]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_openai_stream_encoding_role_once_tool_deltas_usage_and_done() -> None:
    rec = _record()
    enc = _openai.StreamEncoder(rec, "sim-large", include_usage=True)
    raw = enc.chunk(StreamChunk(content="Hel"))
    raw += enc.chunk(StreamChunk(content="lo"))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(0, "c1", "lookup", '{"a"')]))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(0, None, None, ": 1}")]))
    raw += enc.chunk(StreamChunk())  # nothing to say: no event at all
    raw += enc.chunk(StreamChunk(finish_reason="tool_calls"))
    raw += enc.end(rec)
    events = _sse_data(raw)
    assert events[-1] == "[DONE]"
    first, second, tc1, tc2, fin, usage = events[:-1]  # type: ignore[misc]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert second["choices"][0]["delta"] == {"content": "lo"}
    assert tc1["choices"][0]["delta"]["tool_calls"][0] == {
        "index": 0, "id": "c1", "type": "function",
        "function": {"name": "lookup", "arguments": '{"a"'}}
    assert tc2["choices"][0]["delta"]["tool_calls"][0] == {"index": 0,
                                                           "function": {"arguments": ": 1}"}}
    assert fin["choices"][0]["finish_reason"] == "tool_calls"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 4


def test_openai_stream_error_event_is_an_error_object() -> None:
    (event,) = _sse_data(_openai.stream_error(StreamInterrupted("cut")))
    assert event == {"error": {"message": "cut", "type": "api_error", "param": None,
                               "code": "stream_interrupted"}}


def test_anthropic_request_maps_system_blocks_tools_and_tool_results() -> None:
    call = _anthropic.parse_request(
        {"model": "f", "max_tokens": 100, "system": [{"type": "text", "text": "sys"}],
         "stop_sequences": ["\n\n"], "metadata": {"user_id": "u9"},
         "tools": [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}],
         "tool_choice": {"type": "tool", "name": "lookup"},
         "messages": [
             {"role": "user", "content": "order?"},
             {"role": "assistant", "content": [
                 {"type": "text", "text": "checking"},
                 {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"id": 1}}]},
             {"role": "user", "content": [
                 {"type": "tool_result", "tool_use_id": "t1",
                  "content": [{"type": "text", "text": "shipped"}]},
                 {"type": "text", "text": "thanks"}]},
         ]},
        {},
    )
    assert call.unit == "u9" and call.protocol == "anthropic"
    assert [m.role for m in call.messages] == ["system", "user", "assistant", "tool", "user"]
    assistant = call.messages[2]
    assert assistant.content == "checking"
    assert assistant.tool_calls == [ToolCall("t1", "lookup", '{"id":1}')]
    assert call.messages[3].tool_call_id == "t1" and call.messages[3].content == "shipped"
    assert call.params["tools"] == [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object"}, "description": "d"}}]
    assert call.params["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert call.params["stop"] == ["\n\n"] and call.params["max_tokens"] == 100


def test_anthropic_response_and_stop_reasons() -> None:
    resp = ChatResponse(id="up", model="m", content="hi", finish_reason="length",
                        usage=Usage(3, 4, 1), tool_calls=[ToolCall("t1", "f", '{"a": 1}')])
    body = _anthropic.render_response(_record(), resp)
    assert body["content"] == [{"type": "text", "text": "hi"},
                               {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]
    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["cache_read_input_tokens"] == 1


def test_anthropic_stream_blocks_open_and_close_in_order() -> None:
    rec = _record()
    enc = _anthropic.StreamEncoder(rec)
    raw = enc.start("m")
    raw += enc.chunk(StreamChunk(content="a"))
    raw += enc.chunk(StreamChunk(content="b"))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(0, "t1", "f", '{"x"')]))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(0, None, None, ": 2}")]))
    raw += enc.chunk(StreamChunk(finish_reason="tool_calls"))
    raw += enc.end(rec)
    names = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "content_block_delta",
                     "content_block_delta", "content_block_stop", "content_block_start",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    data = [json.loads(line[6:]) for line in raw.decode().splitlines()
            if line.startswith("data: ")]
    assert data[5]["content_block"] == {"type": "tool_use", "id": "t1", "name": "f",
                                        "input": {}}
    assert data[9]["delta"]["stop_reason"] == "tool_use"
    assert data[9]["usage"]["output_tokens"] == 4


@pytest.mark.parametrize("body", [
    {"model": "f", "max_tokens": 1, "messages": [{"role": "user", "content": []}]},
    {"model": "f", "max_tokens": 1, "system": 5, "messages": [{"role": "user", "content": "x"}]},
    {"model": "f", "max_tokens": 1, "tools": [{"input_schema": {}}],
     "messages": [{"role": "user", "content": "x"}]},
    {"model": "f", "max_tokens": 1, "metadata": "u", "messages": [{"role": "user",
                                                                    "content": "x"}]},
])
def test_anthropic_bad_shapes_are_request_errors(body: dict[str, object]) -> None:
    with pytest.raises(RequestError):
        _anthropic.parse_request(body, {})
