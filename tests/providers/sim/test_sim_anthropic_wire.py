"""The official `anthropic` SDK, unchanged, against a running SimServer."""

from __future__ import annotations

import anthropic
import httpx
import httpx2
import pytest

from rampway.providers.sim import SimServer

ORDER_TOOL = {
    "name": "lookup_order",
    "description": "Look up the status of an order by id",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}
MSG = [{"role": "user", "content": "What is 6 * 7?"}]


def client(sim: SimServer, **kw: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_url, api_key="sk-ant-test", max_retries=0, **kw)  # type: ignore[arg-type]


def faults(sim: SimServer, **rates: object) -> None:
    sim.patch_config({"models": {"sim-large": {"faults": rates}}})


def test_create_message_with_system(sim: SimServer) -> None:
    msg = client(sim).messages.create(
        model="sim-large",
        max_tokens=300,
        extra_body={"temperature": 0},
        system="You are a precise math tutor.",
        messages=MSG,
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and "42" in msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert msg.usage.cache_read_input_tokens == 0


async def test_async_create(sim: SimServer) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=sim.base_url, api_key="k", max_retries=0
    ) as aclient:
        msg = await aclient.messages.create(model="sim-small", max_tokens=100, messages=MSG)
    assert msg.content and msg.model == "sim-small"


def test_stream_events(sim: SimServer) -> None:
    c = client(sim)
    t0 = {"temperature": 0}
    whole = c.messages.create(model="sim-large-2", max_tokens=300, extra_body=t0, messages=MSG)
    with c.messages.stream(
        model="sim-large-2", max_tokens=300, extra_body=t0, messages=MSG
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_raw_event_sequence(sim: SimServer) -> None:
    events = [
        e.type
        for e in client(sim).messages.create(
            model="sim-large", max_tokens=50, messages=MSG, stream=True
        )
    ]
    assert events[0] == "message_start"
    assert events[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(events)


async def test_async_stream(sim: SimServer) -> None:
    aclient = anthropic.AsyncAnthropic(base_url=sim.base_url, api_key="k", max_retries=0)
    async with (
        aclient,
        aclient.messages.stream(
            model="sim-large", max_tokens=200, messages=MSG, extra_body={"temperature": 0}
        ) as stream,
    ):
        text = "".join([t async for t in stream.text_stream])
    assert "42" in text


def test_tool_use_round_trip(sim: SimServer) -> None:
    c = client(sim)
    messages: list[dict[str, object]] = [{"role": "user", "content": "where is my order 12345"}]
    first = c.messages.create(
        model="sim-large",
        max_tokens=200,
        messages=messages,  # type: ignore
        tools=[ORDER_TOOL],
        tool_choice={"type": "any"},
    )  # type: ignore
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "lookup_order" and use.id.startswith("toolu_")  # type: ignore[union-attr]
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": '{"status": "delivered"}'}
            ],
        },
    ]
    second = c.messages.create(
        model="sim-large",
        max_tokens=200,
        messages=messages,  # type: ignore
        tools=[ORDER_TOOL],
    )  # type: ignore[list-item]
    assert "delivered" in second.content[0].text  # type: ignore[union-attr]


def test_streamed_tool_use(sim: SimServer) -> None:
    with client(sim).messages.stream(
        model="sim-large",
        max_tokens=200,
        tools=[ORDER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "lookup_order"},
        messages=[{"role": "user", "content": "status of order 77812?"}],
    ) as stream:
        final = stream.get_final_message()
    use = next(b for b in final.content if b.type == "tool_use")
    assert "order_id" in use.input and final.stop_reason == "tool_use"  # type: ignore


def test_max_tokens_stop_reason(sim: SimServer) -> None:
    msg = client(sim).messages.create(
        model="sim-large", max_tokens=5, messages=[{"role": "user", "content": "Write 200 words"}]
    )
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 5


def test_refusal_stop_reason(sim: SimServer) -> None:
    msg = client(sim).messages.create(
        model="sim-large",
        max_tokens=50,
        messages=[{"role": "user", "content": "help me make a bomb"}],
    )
    assert msg.stop_reason == "refusal"


def test_errors_map_to_sdk_exceptions(sim: SimServer) -> None:
    c = client(sim)
    with pytest.raises(anthropic.NotFoundError):
        c.messages.create(model="claude-nope", max_tokens=5, messages=MSG)
    with pytest.raises(anthropic.BadRequestError) as info:
        c.messages.create(
            model="sim-small",
            max_tokens=5,
            messages=[{"role": "user", "content": "word " * 130_000}],
        )
    assert "prompt is too long" in str(info.value)
    r = httpx.post(sim.base_url + "/v1/messages", json={"model": "sim-large", "messages": MSG})
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_rate_limit_and_overload(sim: SimServer) -> None:
    faults(sim, rate_429=1.0, retry_after_s=3)
    with pytest.raises(anthropic.RateLimitError) as info:
        client(sim).messages.create(model="sim-large", max_tokens=5, messages=MSG)
    assert info.value.response.headers["retry-after"] == "3"
    faults(sim, rate_429=0.0, rate_503=1.0)
    with pytest.raises(anthropic.APIStatusError) as err:
        client(sim).messages.create(model="sim-large", max_tokens=5, messages=MSG)
    assert err.value.status_code == 529


def test_midstream_cut_raises(sim: SimServer) -> None:
    faults(sim, rate_midstream_cut=1.0)
    # The SDK surfaces the cut during iteration as its transport's protocol error.
    cut_errors = (anthropic.APIConnectionError, httpx2.RemoteProtocolError)
    with (
        pytest.raises(cut_errors),
        client(sim).messages.stream(
            model="sim-large",
            max_tokens=300,
            messages=[{"role": "user", "content": "Tell me about rivers"}],
        ) as stream,
    ):
        for _ in stream.text_stream:
            pass


def test_structured_output_config(sim: SimServer) -> None:
    schema = {
        "type": "object",
        "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}},
        "required": ["vendor", "total"],
        "additionalProperties": False,
    }
    msg = client(sim).messages.create(
        model="sim-large",
        max_tokens=200,
        output_config={"format": {"type": "json_schema", "schema": schema}},
        messages=[{"role": "user", "content": "Invoice from Acme Corp. Total: $99.50"}],
    )
    import json

    assert set(json.loads(msg.content[0].text)) == {"vendor", "total"}  # type: ignore[union-attr]
