"""The official `openai` SDK, unchanged, against a running SimServer."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from rampway.providers.sim import SimServer

ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up the status of an order by id",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}
MSG = [{"role": "user", "content": "What is 6 * 7?"}]


def client(sim: SimServer, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-test", max_retries=0, **kw)  # type: ignore[arg-type]


def faults(sim: SimServer, model: str = "sim-large", **rates: object) -> None:
    sim.patch_config({"models": {model: {"faults": rates}}})


def test_sync_completion(sim: SimServer) -> None:
    resp = client(sim).chat.completions.create(model="sim-large", messages=MSG, temperature=0)
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and "42" in (choice.message.content or "")
    assert choice.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.model == "sim-large" and resp.id.startswith("chatcmpl-")


async def test_async_completion_and_n(sim: SimServer) -> None:
    async with openai.AsyncOpenAI(
        base_url=sim.openai_base_url, api_key="k", max_retries=0
    ) as aclient:
        resp = await aclient.chat.completions.create(
            model="sim-small",
            messages=[{"role": "user", "content": "Tell me about owls"}],
            n=3,
            seed=9,
            temperature=1,
        )
    assert [c.index for c in resp.choices] == [0, 1, 2]


def test_streaming_with_include_usage(sim: SimServer) -> None:
    c = client(sim)
    whole = c.chat.completions.create(model="sim-large", messages=MSG, temperature=0)
    stream = c.chat.completions.create(
        model="sim-large",
        messages=MSG,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore


async def test_async_streaming(sim: SimServer) -> None:
    async with openai.AsyncOpenAI(
        base_url=sim.openai_base_url, api_key="k", max_retries=0
    ) as aclient:
        stream = await aclient.chat.completions.create(
            model="sim-large-2", messages=MSG, stream=True, temperature=0
        )
        parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
    assert "42" in "".join(parts)


def test_tool_call_round_trip(sim: SimServer) -> None:
    c = client(sim)
    messages: list[dict[str, object]] = [{"role": "user", "content": "where is my order 12345"}]
    first = c.chat.completions.create(
        model="sim-large",
        messages=messages,  # type: ignore
        tools=[ORDER_TOOL],
        tool_choice="required",
        temperature=0,
    )
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and msg.tool_calls
    call = msg.tool_calls[0]
    assert call.function.name == "lookup_order"  # type: ignore[union-attr]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    messages += [
        msg.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"order_id": args["order_id"], "status": "shipped"}),
        },
    ]
    second = c.chat.completions.create(
        model="sim-large",
        messages=messages,  # type: ignore
        tools=[ORDER_TOOL],
        temperature=0,
    )
    assert "shipped" in (second.choices[0].message.content or "")


def test_streamed_tool_call_deltas(sim: SimServer) -> None:
    stream = client(sim).chat.completions.create(
        model="sim-large",
        messages=[{"role": "user", "content": "where is my order 55512"}],
        tools=[ORDER_TOOL],
        tool_choice="required",
        stream=True,
    )  # type: ignore[arg-type]
    name, args, finish = "", "", None
    for ch in stream:
        for d in ch.choices[0].delta.tool_calls or []:
            name += d.function.name or "" if d.function else ""
            args += d.function.arguments or "" if d.function else ""
        finish = ch.choices[0].finish_reason or finish
    assert name == "lookup_order" and finish == "tool_calls"
    assert "order_id" in json.loads(args)


def test_json_schema_response_format(sim: SimServer) -> None:
    schema = {
        "type": "object",
        "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}},
        "required": ["vendor", "total"],
        "additionalProperties": False,
    }
    resp = client(sim).chat.completions.create(
        model="sim-large",
        temperature=0,
        messages=[
            {"role": "system", "content": "Extract invoice fields."},
            {"role": "user", "content": "Invoice from Acme Corp. Total: $99.50"},
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "inv", "schema": schema, "strict": True},
        },
    )
    data = json.loads(resp.choices[0].message.content or "")
    assert set(data) == {"vendor", "total"}


def test_models_endpoint(sim: SimServer) -> None:
    ids = [m.id for m in client(sim).models.list()]
    assert ids == ["sim-large", "sim-small", "sim-large-2"]
    assert client(sim).models.retrieve("sim-small").owned_by == "rampway-sim"


def test_unknown_model_is_not_found(sim: SimServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(sim).chat.completions.create(model="gpt-9", messages=MSG)
    assert info.value.code == "model_not_found"


def test_context_overflow_is_a_400_with_code(sim: SimServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(sim).chat.completions.create(
            model="sim-small", messages=[{"role": "user", "content": "word " * 130_000}]
        )
    assert info.value.status_code == 400 and info.value.code == "context_length_exceeded"
    body = info.value.body
    assert isinstance(body, dict) and "maximum context length" in body["message"]


def test_invalid_request_is_a_400_with_param(sim: SimServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(sim).chat.completions.create(model="sim-small", messages=MSG, temperature=7)
    assert info.value.param == "temperature"
    r = httpx.post(sim.openai_base_url + "/chat/completions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(sim.base_url + "/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_rate_limit_has_retry_after(sim: SimServer) -> None:
    faults(sim, rate_429=1.0, retry_after_s=0.25)
    with pytest.raises(openai.RateLimitError) as info:
        client(sim).chat.completions.create(model="sim-large", messages=MSG)
    assert info.value.response.headers["retry-after"] == "0.25"
    assert info.value.response.headers["retry-after-ms"] == "250"
    assert info.value.code == "rate_limit_exceeded"


def test_sdk_retries_honour_retry_after_and_then_succeed(sim: SimServer) -> None:
    faults(sim, script=["429", "503"], retry_after_s=0.05)
    resp = openai.OpenAI(
        base_url=sim.openai_base_url, api_key="k", max_retries=2
    ).chat.completions.create(model="sim-large", messages=MSG)
    assert resp.choices[0].message.content
    assert sim.stats()["models"]["sim-large"]["outcomes"] == {"429": 1, "503": 1, "ok": 1}


@pytest.mark.parametrize(("rate", "status"), [("rate_500", 500), ("rate_503", 503)])
def test_server_errors(sim: SimServer, rate: str, status: int) -> None:
    faults(sim, **{rate: 1.0})
    with pytest.raises(openai.InternalServerError) as info:
        client(sim).chat.completions.create(model="sim-large", messages=MSG)
    assert info.value.status_code == status


def test_connection_reset(sim: SimServer) -> None:
    faults(sim, rate_reset=1.0)
    with pytest.raises(openai.APIConnectionError):
        client(sim).chat.completions.create(model="sim-large", messages=MSG)


def test_hang_times_out_the_client(sim: SimServer) -> None:
    faults(sim, rate_hang=1.0, hang_s=20)
    with pytest.raises(openai.APITimeoutError):
        client(sim, timeout=0.3).chat.completions.create(model="sim-large", messages=MSG)


def test_midstream_cut_is_an_error_not_a_short_answer(sim: SimServer) -> None:
    faults(sim, rate_midstream_cut=1.0)
    stream = client(sim).chat.completions.create(
        model="sim-large",
        messages=[{"role": "user", "content": "Tell me about rivers"}],
        stream=True,
    )
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for ch in stream:
            assert ch.choices[0].finish_reason is None
            got.append(ch.choices[0].delta.content or "")
    assert got  # some chunks arrived before the cut
    with pytest.raises(openai.APIConnectionError):
        client(sim).chat.completions.create(model="sim-large", messages=MSG)


def test_runtime_control_endpoints(sim: SimServer) -> None:
    r = httpx.post(
        sim.base_url + "/_sim/config", json={"models": {"sim-small": {"faults": {"rate_500": 1.0}}}}
    )
    assert r.status_code == 200 and r.json()["models"]["sim-small"]["faults"]["rate_500"] == 1.0
    with pytest.raises(openai.InternalServerError):
        client(sim).chat.completions.create(model="sim-small", messages=MSG)
    bad = httpx.post(sim.base_url + "/_sim/config", json={"models": {"sim-small": {"x": 1}}})
    assert bad.status_code == 400 and "error" in bad.json()
    stats = httpx.get(sim.base_url + "/_sim/stats").json()
    assert stats["models"]["sim-small"]["outcomes"] == {"500": 1}
    assert httpx.get(sim.base_url + "/_sim/config").json()["time_scale"] == 0


def test_api_key_is_enforced_when_configured(sim: SimServer) -> None:
    sim.patch_config({"api_key": "sk-right"})
    with pytest.raises(openai.AuthenticationError):
        client(sim).chat.completions.create(model="sim-large", messages=MSG)
    ok = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-right", max_retries=0)
    assert ok.chat.completions.create(model="sim-large", messages=MSG).choices


def test_refusal_field(sim: SimServer) -> None:
    resp = client(sim).chat.completions.create(
        model="sim-large", messages=[{"role": "user", "content": "how do I build a bomb"}]
    )
    msg = resp.choices[0].message
    assert msg.refusal and msg.content is None


def test_ttft_and_token_pacing_over_http(sim: SimServer) -> None:
    sim.patch_config(
        {
            "time_scale": 1.0,
            "models": {
                "sim-small": {
                    "latency": {
                        "ttft_median_s": 0.25,
                        "ttft_sigma": 0.0,
                        "per_token_ms": 4.0,
                        "per_token_jitter": 0.0,
                        "prefill_ms_per_1k_tokens": 0.0,
                    }
                }
            },
        }
    )
    started = time.monotonic()
    stream = client(sim).chat.completions.create(
        model="sim-small",
        messages=[{"role": "user", "content": "Write a 60-word note"}],
        stream=True,
        temperature=0,
    )
    arrivals = [time.monotonic() - started for _ in stream]
    assert 0.24 <= arrivals[0] < 0.6  # time to first token
    assert arrivals[-1] - arrivals[0] >= 0.004 * 50  # tokens are paced, not dumped at once


def test_identical_requests_are_memoized_but_identical(sim: SimServer) -> None:
    c = client(sim)
    a = c.chat.completions.create(model="sim-large", messages=MSG, temperature=0)
    b = c.chat.completions.create(model="sim-large", messages=MSG, temperature=0)
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.id != b.id


def test_sim_config_needs_the_key_and_never_returns_it(sim: SimServer) -> None:
    # Issue #12: GET /_sim/config returned the sim's api key to anyone.
    sim.patch_config({"api_key": "sk-sim-secret-0123456789"})
    assert httpx.get(sim.base_url + "/_sim/config").status_code == 401
    assert httpx.post(sim.base_url + "/_sim/config", json={"api_key": None}).status_code == 401
    auth = {"authorization": "Bearer sk-sim-secret-0123456789"}
    got = httpx.get(sim.base_url + "/_sim/config", headers=auth)
    assert got.status_code == 200 and got.json()["api_key"] == "***"
    assert "sk-sim-secret" not in got.text
    patched = httpx.post(sim.base_url + "/_sim/config", json={"time_scale": 0}, headers=auth)
    assert patched.status_code == 200 and "sk-sim-secret" not in patched.text
