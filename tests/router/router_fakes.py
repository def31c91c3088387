"""Scripted in-process providers, a fake clock and a fake sleep for router unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from rampway.errors import ProviderError, StreamInterrupted
from rampway.providers.catalog import Catalog
from rampway.providers.types import ChatRequest, ChatResponse, Provider, StreamChunk, Usage

OK = "ok"
HANG = "hang"
CUT_AFTER_CONTENT = "cut_after_content"  # stream: one content chunk, then a StreamInterrupted
END_EARLY = "end_early"  # stream: one content chunk, then the iterator just stops
EMPTY = "empty"  # stream: ends before any chunk


class ScriptedProvider:
    """Each call consumes the next step of its script (then `default`): OK, HANG, an error..."""

    def __init__(self, name: str, script: Iterable[Any] = (), default: Any = OK) -> None:
        self.name = name
        self.script = list(script)
        self.default = default
        self.calls: list[str] = []

    def _step(self, request: ChatRequest) -> Any:
        self.calls.append(request.model)
        return self.script.pop(0) if self.script else self.default

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        step = self._step(request)
        if step == HANG:
            await asyncio.sleep(3600)
        if isinstance(step, ProviderError):
            raise step
        return ChatResponse(
            id="r1",
            model=request.model,
            content=f"answer from {self.name}/{request.model}",
            finish_reason="stop",
            usage=Usage(1000, 100),
            provider=self.name,
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        step = self._step(request)
        if step == HANG:
            await asyncio.sleep(3600)
        if isinstance(step, ProviderError):
            raise step
        if step == EMPTY:
            return
        yield StreamChunk(content="", model=request.model)  # role-only chunk, no output
        yield StreamChunk(content=f"{self.name}:")
        if step == CUT_AFTER_CONTENT:
            raise StreamInterrupted("cut", provider=self.name, model=request.model)
        if step == END_EARLY:
            return
        yield StreamChunk(content=request.model)
        yield StreamChunk(finish_reason="stop")
        yield StreamChunk(usage=Usage(1000, 100))

    async def aclose(self) -> None:
        return None


class FakeRegistry:
    def __init__(self, *providers: Provider, kind: str = "sim") -> None:
        self._providers = {p.name: p for p in providers}
        self._kind = kind

    def get(self, name: str) -> Provider:
        from rampway.errors import ConfigError

        if name not in self._providers:
            raise ConfigError(f"unknown provider {name!r}")
        return self._providers[name]

    def kind(self, name: str) -> str:
        return self._kind


class FakeTime:
    """A clock that only moves when the router sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def small_catalog() -> Catalog:
    """The bundled catalog plus tiny-context models, so overflow tests need short prompts."""
    return Catalog.load(
        [
            {
                "provider": "a",
                "model": "tiny",
                "input_per_mtok": 1,
                "output_per_mtok": 2,
                "context_window": 50,
            },
            {
                "provider": "b",
                "model": "mid",
                "input_per_mtok": 1,
                "output_per_mtok": 2,
                "context_window": 200,
            },
            {
                "provider": "b",
                "model": "mid2",
                "input_per_mtok": 1,
                "output_per_mtok": 2,
                "context_window": 200,
            },
            {
                "provider": "c",
                "model": "big",
                "input_per_mtok": 1,
                "output_per_mtok": 2,
                "context_window": 5000,
            },
        ]
    )
