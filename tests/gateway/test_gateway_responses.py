"""OpenAI's Responses API (`POST /v1/responses`, issue #17 item 4) through the same pipeline as
chat completions: the real `openai` client against a served gateway, the simulator behind it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from gateway_helpers import TOOLS, Proj, rows, serve
from pydantic import BaseModel, TypeAdapter

from rampway.events.model import hash_unit
from rampway.gateway import Runtime

LOOKUP = {"type": "function", **TOOLS[0]["function"]}  # the Responses API's flat form
ORDER = "What is the status of my order A-10442?"


@pytest.fixture
def base_url(proj: Proj) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


@pytest.fixture
def oai(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as client:
        yield client


def test_text_input_non_streaming(oai: openai.OpenAI, proj: Proj) -> None:
    raw = oai.responses.with_raw_response.create(model="echo", input="What is 7 times 6?")
    response = raw.parse()
    assert raw.headers["x-rampway-release"] == proj.echo.id
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_") and response.model == "sim-small"
    assert response.output_text
    (item,) = response.output
    assert item.type == "message" and item.role == "assistant"
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.total_tokens == (response.usage.input_tokens
                                           + response.usage.output_tokens)


def test_message_list_and_instructions_go_through_the_managed_release(
        oai: openai.OpenAI, proj: Proj) -> None:
    raw = oai.responses.with_raw_response.create(
        model="support-bot", user="user-5", instructions="ignored: the release owns the prompt",
        input=[{"role": "user", "content": "Hello"},
               {"role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
               {"role": "user", "content": [{"type": "input_text", "text": "Who are you?"}]}],
        extra_body={"rampway": {"vars": {"customer_name": "Ada"}}})
    assert raw.parse().output_text
    assert raw.headers["x-rampway-release"] == proj.v1.id
    request_id = raw.headers["x-request-id"]
    deadline = 50
    found: list[Any] = []
    while deadline and not found:  # the event writer flushes every 50 ms here
        found = [r for r in rows(proj.db_url) if r.id == request_id]
        deadline -= 1
        if not found:
            time.sleep(0.1)
    (row,) = found
    assert row.protocol == "responses" and row.unit_hash == hash_unit("user-5")
    assert row.release_id == proj.v1.id and '"customer_name": "Ada"' in row.prompt_text


def test_streaming_emits_the_responses_event_sequence(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="echo", input="What is 2 plus 2?", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[2:4] == ["response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1]
    assert done.type == "response.completed" and text and done.response.output_text == text
    assert done.response.usage is not None and done.response.usage.output_tokens > 0


def test_the_stream_helper_accumulates_a_final_response(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="echo", input="Name a color.") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert deltas and final.output_text == deltas


def test_function_tools_round_trip(oai: openai.OpenAI) -> None:
    first = oai.responses.create(model="tools-bot", input=ORDER, tools=[LOOKUP],  # type: ignore[list-item]
                                 tool_choice="required", temperature=0)
    (call,) = [i for i in first.output if i.type == "function_call"]
    assert call.name == "lookup_order" and "order_id" in json.loads(call.arguments)
    assert first.tools[0].name == "lookup_order"  # type: ignore[union-attr]
    second = oai.responses.create(model="tools-bot", tools=[LOOKUP],  # type: ignore[list-item]
                                  input=[{"role": "user", "content": ORDER},
                                         {"type": "function_call", "call_id": call.call_id,
                                          "name": call.name, "arguments": call.arguments},
                                         {"type": "function_call_output", "call_id": call.call_id,
                                          "output": json.dumps({"status": "shipped"})}])
    assert second.output_text


def test_streamed_function_call(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="tools-bot", input=ORDER, tools=[LOOKUP],  # type: ignore[list-item]
                              tool_choice={"type": "function", "name": "lookup_order"}) as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    (call,) = [i for i in final.output if i.type == "function_call"]
    assert call.name == "lookup_order" and "order_id" in json.loads(call.arguments)


REVIEW = "Extract the label and confidence.\nlabel: positive\nconfidence: 0.93"


class Verdict(BaseModel):
    label: str
    confidence: float


def test_structured_output_with_text_format(oai: openai.OpenAI) -> None:
    parsed = oai.responses.parse(model="echo", input=REVIEW, text_format=Verdict, temperature=0)
    assert parsed.output_parsed == Verdict(label="positive", confidence=0.93)
    schema = oai.responses.create(model="echo", input=REVIEW, temperature=0, text={
        "format": {"type": "json_schema", "name": "verdict", "strict": True,
                   "schema": Verdict.model_json_schema() | {"additionalProperties": False}}})
    assert set(json.loads(schema.output_text)) == {"label", "confidence"}
    assert schema.text is not None and schema.text.format.type == "json_schema"


@pytest.mark.parametrize(("extra", "param"), [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
     "input[0].content[0]"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"prompt_cache_key": "k"}, "prompt_cache_key"),
    ({"text": {"format": {"type": "json_schema"}}}, "text.format"),
])
def test_unsupported_fields_are_a_400_naming_them(base_url: str, extra: dict[str, Any],
                                                  param: str) -> None:
    body = {"model": "echo", "input": "hi", **extra}
    r = httpx.post(base_url + "/v1/responses", json=body, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_errors_use_the_openai_shape(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="unknown feature"):
        oai.responses.create(model="nope", input="x")
    with pytest.raises(openai.BadRequestError, match="requires a unit"):
        oai.responses.create(model="support-bot", input="x")
    with pytest.raises(openai.BadRequestError, match="owns its tools"):  # item 2 here too
        oai.responses.create(model="support-bot", input="x", user="u",
                             tools=[{**LOOKUP, "name": "get_weather"}])  # type: ignore[list-item]


def test_bodies_and_events_validate_against_openai_types(base_url: str) -> None:
    """openai-python builds its objects without validation: validate strictly here, so a
    missing or mistyped field cannot hide behind the client's leniency."""
    from openai.types.responses import Response, ResponseStreamEvent

    body = {"model": "tools-bot", "input": ORDER, "tools": [LOOKUP], "temperature": 0}
    plain = httpx.post(base_url + "/v1/responses", json=body, timeout=10)
    Response.model_validate(plain.json())
    adapter = TypeAdapter(ResponseStreamEvent)
    for stream_body in ({**body, "stream": True}, {"model": "echo", "input": "hi", "stream": True}):
        with httpx.stream("POST", base_url + "/v1/responses", json=stream_body, timeout=10) as r:
            lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
        events = [adapter.validate_python(json.loads(ln[6:])) for ln in lines]
        assert events[-1].type == "response.completed"
        Response.model_validate(events[-1].response.model_dump())  # type: ignore[union-attr]


def test_encoder_text_then_calls_refusals_and_a_late_error_are_valid_events() -> None:
    from openai.types.responses import ResponseStreamEvent

    from rampway.errors import StreamInterrupted
    from rampway.gateway._responses import StreamEncoder
    from rampway.gateway.call import CallInput, CallRecord
    from rampway.providers.types import Message, StreamChunk, ToolCallDelta

    adapter = TypeAdapter(ResponseStreamEvent)

    def decode(raw: bytes) -> list[Any]:
        blocks = [b for b in raw.decode().split("\n\n") if b]
        out = []
        for block in blocks:
            event, data = block.split("\n")
            parsed = adapter.validate_python(json.loads(data.removeprefix("data: ")))
            assert event == f"event: {parsed.type}"
            out.append(parsed)
        return out

    record = CallRecord(call=CallInput("f", [Message("user", "x")]), started=0.0)
    enc = StreamEncoder(record)
    raw = enc.start("m") + enc.chunk(StreamChunk(content="Let me look."))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(0, "call_a", "lookup", '{"a"')]))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(0, arguments=": 1}")]))
    raw += enc.chunk(StreamChunk(tool_calls=[ToolCallDelta(1, "call_b", "other", "{}")],
                                 finish_reason="tool_calls"))
    events = decode(raw + enc.end(record))
    final = events[-1].response
    assert [i.type for i in final.output] == ["message", "function_call", "function_call"]
    assert final.output[1].arguments == '{"a": 1}' and final.output[2].call_id == "call_b"
    assert [e.output_index for e in events if e.type == "response.output_item.done"] == [0, 1, 2]
    assert [e.sequence_number for e in events] == list(range(len(events)))

    refused = StreamEncoder(record)
    raw = refused.start("m") + refused.chunk(StreamChunk(refusal="I can't help with that."))
    raw += refused.chunk(StreamChunk(finish_reason="content_filter"))
    events = decode(raw + refused.end(record))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.output[0].content[0].refusal == "I can't help with that."

    cut = StreamEncoder(record)
    events = decode(cut.start("m") + cut.chunk(StreamChunk(content="Hel"))
                    + cut.stream_error(StreamInterrupted("upstream cut the stream")))
    assert events[-1].type == "error" and events[-1].message == "upstream cut the stream"


@pytest.mark.parametrize("unit_field", [{"safety_identifier": "sid-1"}, {"user": "sid-1"},
                                        {"metadata": {"user_id": "sid-1"}}])
def test_the_unit_comes_from_what_responses_clients_send(oai: openai.OpenAI,
                                                         unit_field: dict[str, Any]) -> None:
    """support-bot requires a unit: each of these satisfies it."""
    response = oai.responses.create(model="support-bot", input="Hi", **unit_field)
    assert response.status == "completed" and response.user == "sid-1"
