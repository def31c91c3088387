"""The in-process SimProvider: protocol, faults as rampway errors, timing, config, stats."""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from pathlib import Path

import pytest

from rampway.errors import (
    ConfigError,
    ContextWindowExceeded,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from rampway.providers.sim import SimConfig, SimProvider, load_sim_config
from rampway.providers.sim._engine import plan_timing
from rampway.providers.types import ChatRequest, Message, Provider, StreamChunk


def config(**faults: object) -> SimConfig:
    cfg = load_sim_config().model_copy(update={"time_scale": 0.0, "fault_seed": 1234})
    return cfg if not faults else apply_faults(cfg, faults)


def apply_faults(cfg: SimConfig, faults: dict[str, object]) -> SimConfig:
    from rampway.providers.sim._config import apply_patch

    return apply_patch(cfg, {"models": {"sim-large": {"faults": faults}}})


def req(text: str = "What is 6 * 7?", model: str = "sim-large", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", text)], temperature=0, **kw)  # type: ignore[arg-type]


async def collect(provider: SimProvider, request: ChatRequest) -> list[StreamChunk]:
    return [c async for c in provider.stream(request, timeout=5)]


def test_sim_provider_implements_the_protocol() -> None:
    assert isinstance(SimProvider(), Provider)
    assert SimProvider(name="primary").name == "primary"


async def test_complete_returns_a_normalized_response() -> None:
    provider = SimProvider(config())
    resp = await provider.complete(req(), timeout=5)
    assert resp.content and "42" in resp.content
    assert resp.finish_reason == "stop" and resp.provider == "sim"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert resp.id.startswith("chatcmpl-")
    await provider.aclose()


async def test_stream_concatenates_to_the_completion() -> None:
    provider = SimProvider(config())
    full = await provider.complete(req("Tell me about rivers"), timeout=5)
    chunks = await collect(provider, req("Tell me about rivers"))
    assert "".join(c.content or "" for c in chunks) == full.content
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage == full.usage
    assert all(c.finish_reason is None for c in chunks[:-1])


async def test_streamed_tool_call_deltas_rebuild_the_call() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
    r = req("where is my order 98765", tools=[tool], tool_choice="required")
    provider = SimProvider(config())
    full = await provider.complete(r, timeout=5)
    chunks = await collect(provider, r)
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert deltas[0].name == "lookup_order" and deltas[0].id
    assert full.tool_calls and deltas[0].id == full.tool_calls[0].id
    arguments = "".join(d.arguments for d in deltas)
    assert arguments == full.tool_calls[0].arguments
    assert len(json.loads(arguments)["order_id"]) == 5  # right, or a realistic slip: never cut
    assert chunks[-1].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("rate_429", RateLimited),
        ("rate_500", ProviderUnavailable),
        ("rate_503", ProviderUnavailable),
        ("rate_reset", ProviderConnectionError),
        ("rate_midstream_cut", ProviderConnectionError),
    ],
)
async def test_faults_raise_the_matching_error(fault: str, error: type[Exception]) -> None:
    provider = SimProvider(config(**{fault: 1.0, "retry_after_s": 2.5}))
    with pytest.raises(error) as info:
        await provider.complete(req(), timeout=5)
    assert getattr(info.value, "model", "") == "sim-large"
    if fault == "rate_429":
        assert info.value.retry_after == 2.5  # type: ignore[attr-defined]
        assert info.value.status == 429  # type: ignore[attr-defined]


async def test_midstream_cut_raises_after_partial_output() -> None:
    provider = SimProvider(config(rate_midstream_cut=1.0))
    got: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in provider.stream(req("Tell me about rivers"), timeout=5):
            got.append(chunk)
    assert got and all(c.finish_reason is None for c in got)


async def test_fixed_cut_point() -> None:
    provider = SimProvider(config(rate_midstream_cut=1.0, cut_after_chunks=3))
    got: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in provider.stream(req("Tell me about rivers"), timeout=5):
            got.append(chunk)
    assert len(got) == 3


async def test_hang_becomes_a_timeout_after_the_callers_timeout() -> None:
    provider = SimProvider(config(rate_hang=1.0, hang_s=30))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await provider.complete(req(), timeout=0.15)
    assert 0.14 <= time.monotonic() - started < 1.0


async def test_fault_rates_are_within_binomial_bounds() -> None:
    rates = {"rate_429": 0.1, "rate_500": 0.05, "rate_503": 0.05, "rate_reset": 0.1}
    provider = SimProvider(config(**rates))
    n = 2000
    seen = {"429": 0, "500": 0, "503": 0, "reset": 0, "ok": 0}
    for _ in range(n):
        try:
            await provider.complete(req(), timeout=5)
            seen["ok"] += 1
        except RateLimited:
            seen["429"] += 1
        except ProviderUnavailable as exc:
            seen[str(exc.status)] += 1
        except ProviderConnectionError:
            seen["reset"] += 1
    expected = {"429": 0.1, "500": 0.05, "503": 0.05, "reset": 0.1, "ok": 0.7}
    for kind, p in expected.items():
        sd = math.sqrt(n * p * (1 - p))
        assert abs(seen[kind] - n * p) <= 4 * sd, (kind, seen)
    outcomes = provider.stats()["models"]["sim-large"]["outcomes"]
    assert outcomes["ok"] == seen["ok"] and outcomes["reset"] == seen["reset"]


async def test_fault_sequence_is_reproducible_with_a_seed() -> None:
    async def sequence() -> list[str]:
        provider = SimProvider(config(rate_503=0.5))
        out = []
        for _ in range(40):
            try:
                await provider.complete(req(), timeout=5)
                out.append("ok")
            except ProviderUnavailable:
                out.append("503")
        return out

    assert await sequence() == await sequence()


async def test_retry_of_identical_request_can_succeed() -> None:
    provider = SimProvider(config(script=["429", "503"]))
    with pytest.raises(RateLimited):
        await provider.complete(req(), timeout=5)
    with pytest.raises(ProviderUnavailable):
        await provider.complete(req(), timeout=5)
    assert (await provider.complete(req(), timeout=5)).content


async def test_patch_config_changes_fault_rates_at_runtime() -> None:
    provider = SimProvider(config())
    await provider.complete(req(), timeout=5)
    provider.patch_config({"models": {"sim-large": {"faults": {"rate_500": 1.0}}}})
    with pytest.raises(ProviderUnavailable):
        await provider.complete(req(), timeout=5)
    with pytest.raises(ConfigError):
        provider.patch_config({"models": {"sim-large": {"faults": {"rate_500": 2.0}}}})
    assert provider.runtime.config.models["sim-large"].faults.rate_500 == 1.0


async def test_bad_requests_raise_before_any_fault() -> None:
    provider = SimProvider(config(rate_429=1.0))
    with pytest.raises(ProviderBadRequest) as info:
        await provider.complete(req(model="gpt-nope"), timeout=5)
    assert info.value.status == 404
    with pytest.raises(ContextWindowExceeded):
        await provider.complete(req("word " * 200_000), timeout=5)


async def test_time_scale_controls_real_latency() -> None:
    cfg = load_sim_config().model_copy(update={"time_scale": 0.5, "fault_seed": 1})
    provider = SimProvider(cfg)
    r = req("hi", model="sim-small")
    started = time.monotonic()
    resp = await provider.complete(r, timeout=5)
    elapsed = time.monotonic() - started
    assert 0.01 < elapsed < 1.0
    assert resp.ttft_s is not None and resp.ttft_s <= resp.latency_s
    fast = SimProvider(config())
    started = time.monotonic()
    await fast.complete(r, timeout=5)
    assert time.monotonic() - started < 0.05


async def test_planned_latency_beyond_the_timeout_times_out() -> None:
    cfg = load_sim_config().model_copy(update={"time_scale": 1.0})
    with pytest.raises(ProviderTimeout):
        await SimProvider(cfg).complete(req("Write a 2000-word essay on tea"), timeout=0.05)


def test_ttft_distribution_matches_the_profile() -> None:
    profiles = load_sim_config().models
    rng = random.Random(5)
    medians = {}
    for name in ("sim-large", "sim-small"):
        ttfts = [plan_timing(profiles[name].latency, 0, rng).ttft_s for _ in range(4000)]
        medians[name] = statistics.median(ttfts)
        assert abs(medians[name] / profiles[name].latency.ttft_median_s - 1) < 0.05
    assert medians["sim-small"] < medians["sim-large"] / 2


def test_config_rejects_unknown_keys_and_bad_rates(tmp_path: Path) -> None:
    bad = tmp_path / "sim.yaml"
    bad.write_text("models:\n  sim-large:\n    qualty: 0.9\n")
    with pytest.raises(ConfigError, match="qualty"):
        load_sim_config(bad)
    bad.write_text("models:\n  sim-large:\n    faults: {rate_429: 0.7, rate_500: 0.6}\n")
    with pytest.raises(ConfigError, match="sum"):
        load_sim_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_sim_config(tmp_path / "missing.yaml")


def test_config_file_merges_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        "time_scale: 0\nmodels:\n  sim-small:\n    faults: {rate_503: 0.2}\n"
        "  sim-tiny:\n    quality: 0.3\n"
    )
    cfg = load_sim_config(path)
    assert cfg.time_scale == 0
    assert cfg.models["sim-small"].faults.rate_503 == 0.2
    assert cfg.models["sim-small"].prices.input_per_mtok == 0.15
    assert set(cfg.models) == {"sim-large", "sim-small", "sim-large-2", "sim-tiny"}


def test_default_models_carry_catalog_prices_and_windows() -> None:
    m = load_sim_config().models
    assert (
        m["sim-large"].prices.input_per_mtok,
        m["sim-large"].prices.output_per_mtok,
        m["sim-large"].prices.cached_input_per_mtok,
    ) == (2.5, 10.0, 1.25)
    assert (
        m["sim-small"].prices.input_per_mtok,
        m["sim-small"].prices.output_per_mtok,
        m["sim-small"].prices.cached_input_per_mtok,
    ) == (0.15, 0.6, 0.075)
    assert [m[k].context_window for k in ("sim-large", "sim-small", "sim-large-2")] == [
        128_000,
        128_000,
        200_000,
    ]


async def test_repeated_long_system_prefix_is_counted_as_cached() -> None:
    provider = SimProvider(config())
    system = "You are a meticulous support agent. " * 200
    r = ChatRequest(
        model="sim-large",
        messages=[Message("system", system), Message("user", "hi")],
        temperature=0,
    )
    first = await provider.complete(r, timeout=5)
    second = await provider.complete(r, timeout=5)
    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens >= 1024 and second.usage.cached_tokens % 128 == 0
    assert second.usage.cached_tokens <= second.usage.input_tokens


async def test_concurrent_calls_do_not_interfere() -> None:
    provider = SimProvider(config())
    results = await asyncio.gather(
        *(provider.complete(req(f"What is {i} + {i}?"), timeout=5) for i in range(50))
    )
    assert len({r.id for r in results}) == 50
