"""Calls that end early: a client that disconnects cancels the upstream call (before the first
token or mid-stream, on both wire formats, and non-streaming calls too), and an upstream failure
after the Anthropic stream started reaches the client as an Anthropic `event: error`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import pytest
from gateway_helpers import Proj, rows, serve

from rampway.gateway import Runtime
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim import SimProvider, load_sim_config
from rampway.providers.types import ChatRequest, ChatResponse, StreamChunk

MODELS = ("sim-large", "sim-small", "sim-large-2")


class Watched:
    """The in-process sim as the upstream, noting how each stream ended on the upstream side:
    ("finished" | "closed", chunks yielded, monotonic time)."""

    def __init__(self, sim: SimProvider) -> None:
        self.sim = sim
        self.name = sim.name
        self.ends: list[tuple[str, int, float]] = []

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        try:
            response = await self.sim.complete(request, timeout=timeout)
        except BaseException:
            self.ends.append(("closed", 0, time.monotonic()))
            raise
        self.ends.append(("finished", 1, time.monotonic()))
        return response

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        n = 0
        try:
            async for chunk in self.sim.stream(request, timeout=timeout):
                n += 1
                yield chunk
        except BaseException:
            self.ends.append(("closed", n, time.monotonic()))
            raise
        self.ends.append(("finished", n, time.monotonic()))

    async def aclose(self) -> None:
        await self.sim.aclose()


def _slow(ttft_s: float, per_token_ms: float) -> dict[str, Any]:
    latency = {"ttft_median_s": ttft_s, "ttft_sigma": 0.0, "per_token_ms": per_token_ms,
               "per_token_jitter": 0.0, "prefill_ms_per_1k_tokens": 0.0}
    return {"time_scale": 1.0, "models": {m: {"latency": latency} for m in MODELS}}


@pytest.fixture
def watched(proj: Proj) -> Iterator[tuple[Watched, Runtime, str]]:
    upstream = Watched(SimProvider(load_sim_config(proj.project.root.parent / "sim.yaml")))
    registry = ProviderRegistry({"sim": upstream}, {"sim": "sim"})
    rt = Runtime.from_project(proj.project, providers=registry)
    with serve(rt) as url:
        yield upstream, rt, url


OPENAI = ("/v1/chat/completions", {"model": "echo", "stream": True, "messages": [
    {"role": "user", "content": "Explain your refund policy in detail."}]})
ANTHROPIC = ("/v1/messages", {"model": "echo", "stream": True, "max_tokens": 400, "messages": [
    {"role": "user", "content": "Explain your refund policy in detail."}]})


def _wait_for(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.mark.parametrize("wire", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_client_leaving_mid_stream_cancels_the_upstream_call(
    watched: tuple[Watched, Runtime, str], proj: Proj, wire: tuple[str, dict[str, Any]]
) -> None:
    upstream, rt, url = watched
    sim = upstream.sim
    sim.patch_config(_slow(0.0, 0.0))
    full = httpx.post(url + wire[0], json=wire[1], timeout=30)
    assert full.status_code == 200 and upstream.ends[-1][0] == "finished"
    total = upstream.ends[-1][1]
    assert total > 20  # a long answer: a cancelled call visibly stops early
    sim.patch_config(_slow(0.0, 50.0))  # ~50 ms per token: the full stream takes > 1 s
    with httpx.Client(timeout=30) as client, client.stream("POST", url + wire[0],
                                                         json=wire[1]) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        while "delta" not in next(lines):
            pass  # read until the first token arrived, then hang up
        left = time.monotonic()
    _wait_for(lambda: len(upstream.ends) == 2, 5)
    how, chunks, at = upstream.ends[-1]
    assert how == "closed" and chunks < total / 2
    assert at - left < 0.5  # cancelled at once, not after the remaining tokens
    assert rt.writer.flush(5)
    last = max(rows(proj.db_url), key=lambda row: row.ts)
    assert (last.status, last.http_status, last.error_code) == ("error", 499, "client_closed")


def test_client_leaving_before_the_first_token_cancels_the_upstream_call(
    watched: tuple[Watched, Runtime, str], proj: Proj
) -> None:
    upstream, rt, url = watched
    upstream.sim.patch_config(_slow(3.0, 0.0))  # 3 s to the first token
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + OPENAI[0], json=OPENAI[1], timeout=0.3)
    left = time.monotonic()
    _wait_for(lambda: len(upstream.ends) == 1, 5)
    how, chunks, at = upstream.ends[0]
    assert (how, chunks) == ("closed", 0) and at - left < 0.5
    assert rt.writer.flush(5)
    [row] = rows(proj.db_url)
    assert (row.http_status, row.error_code) == (499, "client_closed")
    assert row.latency_ms < 1500


@pytest.mark.parametrize("wire", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_client_leaving_a_non_streaming_call_cancels_the_upstream_call(
    watched: tuple[Watched, Runtime, str], proj: Proj, wire: tuple[str, dict[str, Any]]
) -> None:
    upstream, rt, url = watched
    upstream.sim.patch_config(_slow(3.0, 0.0))  # 3 s before the answer
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + wire[0], json={**wire[1], "stream": False}, timeout=0.3)
    left = time.monotonic()
    _wait_for(lambda: len(upstream.ends) == 1, 5)
    how, _, at = upstream.ends[0]
    assert how == "closed" and at - left < 0.5
    assert rt.writer.flush(5)
    [row] = rows(proj.db_url)
    assert (row.status, row.http_status, row.error_code) == ("error", 499, "client_closed")
    assert row.latency_ms < 1500


def test_anthropic_error_after_the_stream_started_is_an_error_event(proj: Proj) -> None:
    rt = Runtime.from_project(proj.project)
    cut = {"faults": {"rate_midstream_cut": 1.0, "cut_after_chunks": 3}}
    rt.providers.get("sim").patch_config(  # type: ignore[attr-defined]
        {"models": {m: cut for m in MODELS}})
    with serve(rt) as url:
        raw = httpx.post(url + ANTHROPIC[0], json=ANTHROPIC[1], timeout=30)
        assert raw.status_code == 200
        events = [block.split("\n") for block in raw.text.strip().split("\n\n")]
        names = [lines[0].removeprefix("event: ") for lines in events]
        assert names[0] == "message_start" and "content_block_delta" in names
        assert names[-1] == "error" and "message_stop" not in names
        error = json.loads(events[-1][1].removeprefix("data: "))
        assert error["type"] == "error"
        assert error["error"]["code"] == "stream_interrupted"
        assert error["error"]["type"] == "api_error"
        with (
            anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client,
            pytest.raises(anthropic.APIStatusError, match="interrupted"),
            client.messages.stream(model="echo", max_tokens=400,
                                   messages=ANTHROPIC[1]["messages"]) as stream,
        ):
            for _ in stream.text_stream:
                pass
    error_rows = [r for r in rows(proj.db_url) if r.status == "error"]
    assert len(error_rows) == 2
    assert all(r.error_code == "stream_interrupted" and r.protocol == "anthropic"
               for r in error_rows)
