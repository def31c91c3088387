"""The official `openai` and `anthropic` SDKs, unchanged except for base_url, against a real
uvicorn-served gateway with the simulator behind it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest
from gateway_helpers import TOOLS, Proj, serve

from rampway.gateway import Runtime


@pytest.fixture
def base_url(proj: Proj) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


@pytest.fixture
def oai(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_openai_sync_non_streaming_with_vars_and_headers(oai: openai.OpenAI, proj: Proj) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="rampway/support-bot",
        messages=[{"role": "user", "content": "Hello, who are you?"}],
        user="user-7",
        extra_body={"rampway": {"vars": {"customer_name": "Ada"}}},
    )
    completion = raw.parse()
    assert raw.headers["x-rampway-release"] == proj.v1.id
    assert raw.headers["x-rampway-arm"] == "production"
    assert raw.headers["x-request-id"] == completion.id
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert completion.model == "sim-large"


async def test_openai_async_client(base_url: str, proj: Proj) -> None:
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as c:
        completion = await c.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "What is 7 times 6?"}]
        )
        models = await c.models.list()
    assert completion.choices[0].message.content
    assert {m.id for m in models.data} == {"support-bot", "echo", "tools-bot"}


def test_openai_streaming_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="support-bot",
        messages=[{"role": "user", "content": "Tell me about your return policy."}],
        user="user-9",
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text and finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def test_openai_tools_round_trip(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(
        model="tools-bot",
        messages=[{"role": "user", "content": "What is the status of my order A-10442?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        temperature=0,  # the sim is deterministic at 0; above it may answer without the tool
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls", message
    call = message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup_order"  # type: ignore[union-attr]
    assert "order_id" in json.loads(call.function.arguments)  # type: ignore[union-attr]
    second = oai.chat.completions.create(
        model="tools-bot",
        messages=[
            {"role": "user", "content": "What is the status of my order A-10442?"},
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id,
             "content": json.dumps({"status": "shipped", "eta": "tomorrow"})},
        ],
    )
    assert second.choices[0].message.content


def test_openai_streaming_tool_calls(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="tools-bot",
        messages=[{"role": "user", "content": "Where is my order A-10442?"}],
        stream=True,
        temperature=0,
    )
    names, args, finish = set(), "", None
    for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        for tc in (delta.tool_calls or []) if delta else []:
            if tc.function and tc.function.name:
                names.add(tc.function.name)
            if tc.function and tc.function.arguments:
                args += tc.function.arguments
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls" and names == {"lookup_order"}
    assert "order_id" in json.loads(args)


def test_openai_errors_are_raised_with_status_and_not_retried(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(openai.BadRequestError, match="requires a unit"):
        oai.chat.completions.create(model="support-bot",
                                    messages=[{"role": "user", "content": "x"}])


def test_anthropic_messages_non_streaming_and_streaming(base_url: str, proj: Proj) -> None:
    with anthropic.Anthropic(base_url=base_url, api_key="unused", max_retries=0) as client:
        raw = client.messages.with_raw_response.create(
            model="support-bot",
            max_tokens=200,
            system="ignored: the managed release supplies the system prompt",
            messages=[{"role": "user", "content": "Hi, can you help me?"}],
            metadata={"user_id": "user-3"},
        )
        message = raw.parse()
        assert raw.headers["x-rampway-release"] == proj.v1.id
        assert message.content[0].type == "text" and message.content[0].text
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens > 0
        with client.messages.stream(
            model="echo", max_tokens=100,
            messages=[{"role": "user", "content": "What is 2 plus 2?"}],
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert text and final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"


def test_anthropic_tools(base_url: str) -> None:
    tools = [{"name": "lookup_order", "description": "Look up an order by id.",
              "input_schema": TOOLS[0]["function"]["parameters"]}]
    with anthropic.Anthropic(base_url=base_url, api_key="unused", max_retries=0) as client:
        message = client.messages.create(
            model="tools-bot", max_tokens=200, tools=tools,  # type: ignore[arg-type]
            extra_body={"temperature": 0},  # deterministic sim (this SDK has no temperature)
            messages=[{"role": "user", "content": "What is the status of order A-10442?"}],
        )
        assert message.stop_reason == "tool_use"
        use = next(b for b in message.content if b.type == "tool_use")
        assert use.name == "lookup_order" and "order_id" in use.input  # type: ignore[operator]
        follow = client.messages.create(
            model="tools-bot", max_tokens=200, tools=tools,  # type: ignore[arg-type]
            extra_body={"temperature": 0},  # deterministic sim (this SDK has no temperature)
            messages=[
                {"role": "user", "content": "What is the status of order A-10442?"},
                {"role": "assistant", "content": message.content},  # type: ignore[typeddict-item]
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                              "content": "shipped, arrives tomorrow"}]},
            ],
        )
        assert follow.content
        with client.messages.stream(
            model="tools-bot", max_tokens=200, tools=tools,  # type: ignore[arg-type]
            extra_body={"temperature": 0},  # deterministic sim (this SDK has no temperature)
            messages=[{"role": "user", "content": "What is the status of order A-10442?"}],
        ) as stream:
            final = stream.get_final_message()
        assert final.stop_reason == "tool_use"
        assert any(b.type == "tool_use" and b.name == "lookup_order" for b in final.content)


def test_anthropic_errors_use_anthropic_shape(base_url: str) -> None:
    with (
        anthropic.Anthropic(base_url=base_url, api_key="unused", max_retries=0) as client,
        pytest.raises(anthropic.NotFoundError) as info,
    ):
        client.messages.create(model="nope", max_tokens=10,
                               messages=[{"role": "user", "content": "x"}])
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["message"].startswith("unknown feature")
