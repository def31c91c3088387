"""build_providers: kinds, credentials from env only, clear ConfigErrors before any I/O."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from rampway.config import ProviderConfig
from rampway.errors import ConfigError
from rampway.providers.anthropic import AnthropicProvider
from rampway.providers.openai_compat import OpenAICompatProvider
from rampway.providers.registry import build_providers

KEY = "sk-registry-test-key-123"


async def test_builds_each_kind_and_looks_them_up_by_name() -> None:
    reg = build_providers(
        {
            "openai": {"kind": "openai", "api_key_env": "OAI"},
            "claude": {"kind": "anthropic", "api_key_env": "ANT"},
            "vllm": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
            "sim-http": {"kind": "sim", "base_url": "http://127.0.0.1:9/v1"},
        },
        env={"OAI": KEY, "ANT": KEY},
    )
    assert reg.names() == ["claude", "openai", "sim-http", "vllm"]
    assert isinstance(reg.get("openai"), OpenAICompatProvider)
    assert isinstance(reg.get("claude"), AnthropicProvider)
    assert isinstance(reg.get("sim-http"), OpenAICompatProvider)
    assert reg.kind("sim-http") == "sim" and reg.kind("vllm") == "openai"
    assert reg.get("openai").base_url == "https://api.openai.com/v1"  # type: ignore[attr-defined]
    assert "vllm" in reg and len(reg) == 4
    await reg.aclose()


async def test_accepts_the_project_config_model_with_options() -> None:
    cfg = ProviderConfig(
        kind="anthropic",
        api_key_env="ANT",
        options={
            "anthropic_version": "2024-01-01",
            "default_max_tokens": 64,
            "headers": {"anthropic-beta": "x"},
        },
    )
    reg = build_providers({"claude": cfg}, env={"ANT": KEY})
    provider = reg.get("claude")
    assert isinstance(provider, AnthropicProvider) and provider.default_max_tokens == 64
    await reg.aclose()


def test_unknown_provider_name_is_a_config_error_listing_the_configured_ones() -> None:
    reg = build_providers({"vllm": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}}, env={})
    with pytest.raises(ConfigError, match=r"unknown provider 'nope' \(configured: vllm\)"):
        reg.get("nope")


@pytest.mark.parametrize(
    ("entry", "env", "message"),
    [
        (
            {"kind": "openai", "api_key_env": "MISSING"},
            {},
            "environment variable MISSING is not set",
        ),
        ({"kind": "openai", "api_key_env": "EMPTY"}, {"EMPTY": " "}, "EMPTY is not set"),
        ({"kind": "openai"}, {}, "OPENAI_API_KEY is not set"),
        ({"kind": "anthropic"}, {}, "ANTHROPIC_API_KEY is not set"),
        ({"kind": "openai", "api_key": KEY}, {}, "name it with `api_key_env`"),
        ({"kind": "bedrock"}, {}, "kind must be one of openai, anthropic, sim, local"),
        (
            {"kind": "openai", "base_url": "http://x/v1", "options": {"retries": 3}},
            {},
            r"unknown option\(s\) retries for kind openai",
        ),
        ({"kind": "openai", "base_url": ""}, {}, "base_url must be a non-empty string"),
        (
            {"kind": "anthropic", "api_key_env": "K", "options": {"default_max_tokens": 0}},
            {"K": KEY},
            "default_max_tokens must be a positive integer",
        ),
        (
            {"kind": "openai", "base_url": "http://x/v1", "options": {"headers": {"a": 1}}},
            {},
            "headers must map strings to strings",
        ),
        ("not a mapping", {}, "expected a mapping"),
    ],
)
def test_bad_entries_are_config_errors_naming_the_provider(
    entry: Any, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_providers({"up": entry}, env=env)
    assert "provider 'up'" in info.value.message
    assert KEY not in info.value.message


def test_local_kind_without_the_extra_fails_only_when_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    reg = build_providers({"local": {"kind": "local"}, "sim": {"kind": "sim"}}, env={})
    assert reg.get("sim") is not None  # the rest of the project still works
    with pytest.raises(ConfigError, match=r"needs the local extra: pip install 'rampway\[local\]'"):
        reg.get("local")


def test_registry_repr_shows_names_not_keys() -> None:
    reg = build_providers({"openai": {"kind": "openai", "api_key_env": "K"}}, env={"K": KEY})
    assert KEY not in repr(reg) and KEY not in repr(reg.get("openai"))


async def test_sim_without_base_url_is_the_in_process_simulator(tmp_path: Any) -> None:
    from rampway.providers.sim import SimProvider
    from rampway.providers.types import ChatRequest, Message

    sim_yaml = tmp_path / "sim.yaml"
    sim_yaml.write_text("time_scale: 0\n")
    reg = build_providers({"sim": {"kind": "sim", "options": {"config": str(sim_yaml)}}}, env={})
    provider = reg.get("sim")
    assert isinstance(provider, SimProvider) and provider.name == "sim"
    # temperature 0: a seeded answer. At the default temperature the simulator draws fresh
    # randomness, and sim-small refuses 0.2% of requests (a refusal has no content).
    resp = await provider.complete(
        ChatRequest("sim-small", [Message("user", "What is 2 + 3?")], temperature=0), timeout=5
    )
    assert resp.content and resp.usage.output_tokens > 0
    await reg.aclose()


def test_bad_sim_config_path_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError):
        build_providers(
            {"sim": {"kind": "sim", "options": {"config": str(tmp_path / "missing.yaml")}}}, env={}
        )
