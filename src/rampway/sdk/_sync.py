"""`Client`: a thin synchronous wrapper over `AsyncClient` (one async core, no duplicated logic).

The async client lives on a private event loop in a daemon thread; each method submits a
coroutine there and waits for its result. Safe to call from many threads at once.

Example:
    with rampway.Client("path/to/project") as client:
        out = client.complete("support-bot", input="Where is my order?", unit="user-42")
        for chunk in client.stream("support-bot", input="hi", unit="user-42"):
            print(chunk.content or "", end="")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rampway.config import Project
from rampway.gateway.hooks import Hook
from rampway.gateway.resolve import Resolver
from rampway.providers.registry import ProviderRegistry
from rampway.providers.types import StreamChunk
from rampway.sdk._async import AsyncClient, Completion, MessagesArg
from rampway.store import Store

T = TypeVar("T")


class Client:
    def __init__(
        self,
        project: str | Path | Project | None = None,
        *,
        store: Store | None = None,
        providers: ProviderRegistry | Mapping[str, Any] | None = None,
        resolver: Resolver | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rampway-sdk",
                                        daemon=True)
        self._thread.start()
        try:
            self._async = AsyncClient(project, store=store, providers=providers,
                                      resolver=resolver, hooks=hooks)
            self._run(self._async.start())
        except BaseException:
            self._stop_loop()
            raise
        self._closed = False

    @property
    def runtime(self) -> Any:
        return self._async.runtime

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def complete(
        self, feature: str, messages: MessagesArg = None, **kwargs: Any
    ) -> Completion:
        """See `AsyncClient.complete` (input, vars, unit, attributes, OpenAI params)."""
        return self._run(self._async.complete(feature, messages, **kwargs))

    def stream(self, feature: str, messages: MessagesArg = None, **kwargs: Any
               ) -> Iterator[StreamChunk]:
        """Yields chunks as they arrive; closing the iterator early cancels the call."""
        agen = aiter(self._async.stream(feature, messages, **kwargs))
        try:
            while True:
                try:
                    yield self._run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            self._run(_aclose(agen))

    def feedback(self, name: str, value: float | bool, **kwargs: Any) -> str:
        return self._run(self._async.feedback(name, value, **kwargs))

    def features(self) -> list[str]:
        return self._async.features()

    def close(self) -> None:
        """Write every pending event, then stop the background loop."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._async.aclose())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


async def _next(agen: Any) -> StreamChunk:
    chunk: StreamChunk = await agen.__anext__()
    return chunk


async def _aclose(agen: Any) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        await close()


__all__ = ["Client"]
