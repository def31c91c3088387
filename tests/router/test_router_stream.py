"""Router.stream: fall back only before output; after it, a clean StreamInterrupted."""

from __future__ import annotations

import pytest
from router_fakes import (
    CUT_AFTER_CONTENT,
    EMPTY,
    END_EARLY,
    HANG,
    FakeRegistry,
    FakeTime,
    ScriptedProvider,
)

from rampway.errors import ProviderAuthError, ProviderUnavailable, StreamInterrupted
from rampway.providers.catalog import Catalog
from rampway.providers.types import ChatRequest, Message, StreamChunk
from rampway.router import BreakerConfig, RetryPolicy, RoutedStream, Router, Target

PRIMARY = Target("primary", "sim-large")
BACKUP = Target("backup", "sim-small")


def make_router(*providers: ScriptedProvider, timeout_s: float = 30.0) -> Router:
    time = FakeTime()
    return Router(
        FakeRegistry(*providers),
        Catalog.bundled(),
        retry=RetryPolicy(max_attempts=2, rand=lambda: 0),
        breaker_config=BreakerConfig(failure_threshold=50),
        timeout_s=timeout_s,
        clock=time.clock,
        sleep=time.sleep,
    )


def request() -> ChatRequest:
    return ChatRequest(model="x", messages=[Message("user", "hi")], stream=True)


async def collect(stream: RoutedStream) -> list[StreamChunk]:
    return [chunk async for chunk in stream]


def text(chunks: list[StreamChunk]) -> str:
    return "".join(c.content or "" for c in chunks)


async def test_streams_the_primary_and_reports_cost_from_the_usage_chunk() -> None:
    router = make_router(ScriptedProvider("primary"), ScriptedProvider("backup"))
    stream = router.stream(request(), [PRIMARY, BACKUP])
    chunks = await collect(stream)
    assert text(chunks) == "primary:sim-large"
    assert chunks[-2].finish_reason == "stop"
    assert stream.served_by == PRIMARY and not stream.fallback_used
    assert stream.cost_usd == pytest.approx(0.0035)
    assert [a.error for a in stream.attempts] == [None]


@pytest.mark.parametrize("failure", [ProviderUnavailable("503"), EMPTY, HANG])
async def test_failure_before_any_output_falls_back_invisibly(failure: object) -> None:
    primary = ScriptedProvider("primary", default=failure)
    backup = ScriptedProvider("backup")
    router = make_router(primary, backup, timeout_s=0.02)
    stream = router.stream(request(), [PRIMARY, BACKUP])
    chunks = await collect(stream)
    assert text(chunks) == "backup:sim-small"  # nothing from the primary leaked
    assert stream.served_by == BACKUP and stream.fallback_used
    # a hang is not waited for twice: it moves straight on to the backup
    tries = ["primary", "backup"] if failure == HANG else ["primary", "primary", "backup"]
    assert [a.provider for a in stream.attempts] == tries


@pytest.mark.parametrize("failure", [CUT_AFTER_CONTENT, END_EARLY])
async def test_failure_after_output_raises_stream_interrupted_not_a_short_answer(
    failure: str,
) -> None:
    primary = ScriptedProvider("primary", default=failure)
    backup = ScriptedProvider("backup")
    router = make_router(primary, backup)
    stream = router.stream(request(), [PRIMARY, BACKUP])
    received: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted, match="interrupted after output") as info:
        async for chunk in stream:
            received.append(chunk)
    assert text(received) == "primary:"
    assert backup.calls == []  # no splicing of a second model's answer
    assert info.value.attempts[-1].error == "stream_interrupted"
    assert stream.served_by == PRIMARY


async def test_stall_after_output_times_out_into_stream_interrupted() -> None:
    class Stalls(ScriptedProvider):
        async def stream(self, request: ChatRequest, *, timeout: float):  # type: ignore[override]
            yield StreamChunk(content="partial")
            import asyncio

            await asyncio.sleep(3600)
            yield StreamChunk(finish_reason="stop")

    router = make_router(Stalls("primary"), timeout_s=0.02)
    with pytest.raises(StreamInterrupted, match="no chunk within the timeout"):
        await collect(router.stream(request(), [PRIMARY]))


async def test_auth_error_on_stream_does_not_fall_back() -> None:
    backup = ScriptedProvider("backup")
    router = make_router(ScriptedProvider("primary", [ProviderAuthError("401")]), backup)
    with pytest.raises(ProviderAuthError):
        await collect(router.stream(request(), [PRIMARY, BACKUP]))
    assert backup.calls == []


async def test_missing_usage_is_estimated_so_cost_is_never_silently_zero() -> None:
    class NoUsage(ScriptedProvider):
        async def stream(self, request: ChatRequest, *, timeout: float):  # type: ignore[override]
            yield StreamChunk(content="four score and seven years ago")
            yield StreamChunk(finish_reason="stop")

    router = make_router(NoUsage("primary"))
    stream = router.stream(request(), [PRIMARY])
    await collect(stream)
    assert stream.usage is not None and stream.usage.output_tokens > 0
    assert stream.cost_usd > 0


async def test_closing_early_closes_the_provider_stream() -> None:
    closed: list[bool] = []

    class Tracks(ScriptedProvider):
        async def stream(self, request: ChatRequest, *, timeout: float):  # type: ignore[override]
            try:
                for i in range(100):
                    yield StreamChunk(content=str(i))
                yield StreamChunk(finish_reason="stop")
            finally:
                closed.append(True)

    router = make_router(Tracks("primary"))
    stream = router.stream(request(), [PRIMARY])
    first = await stream.__anext__()
    assert first.content == "0"
    await stream.aclose()
    assert closed == [True]


async def test_a_slow_consumer_is_not_mistaken_for_a_stalled_provider() -> None:
    import asyncio

    router = make_router(ScriptedProvider("primary"), timeout_s=0.02)
    got = []
    async for chunk in router.stream(request(), [PRIMARY]):
        got.append(chunk)
        await asyncio.sleep(0.05)  # longer than the timeout, but in the consumer's own code
    assert text(got) == "primary:sim-large"


async def test_cancelling_the_consumer_mid_stream_is_a_cancellation_not_a_timeout() -> None:
    import asyncio

    class Slow(ScriptedProvider):
        async def stream(self, request: ChatRequest, *, timeout: float):  # type: ignore[override]
            yield StreamChunk(content="a")
            await asyncio.sleep(3600)
            yield StreamChunk(finish_reason="stop")

    router = make_router(Slow("primary"), timeout_s=10)
    task = asyncio.create_task(collect(router.stream(request(), [PRIMARY])))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
