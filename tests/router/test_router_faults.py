"""Fault injection through the simulator: the router keeps serving when the primary is flaky.

From issue #3 "Done when": with the primary failing 30% of calls (mixed 429/5xx/timeouts) and
a healthy fallback, >= 99.9% of 2,000 calls succeed; the breaker opens and recovers; Retry-After
is honoured; a mid-stream cut never yields a silently truncated answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from router_fakes import FakeTime

from rampway.errors import ProviderError, StreamInterrupted
from rampway.providers.catalog import Catalog
from rampway.providers.openai_compat import OpenAICompatProvider
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim import SimProvider, SimServer, load_sim_config
from rampway.providers.types import ChatRequest, Message, Provider, StreamChunk
from rampway.router import BreakerConfig, RetryPolicy, RoutedResponse, Router, Target

PRIMARY = Target("sim", "sim-large")
FALLBACK = Target("sim", "sim-small")
CHAIN = [PRIMARY, FALLBACK]
FLAKY = {  # 30% of calls fail: 10% 429, 5% 500, 5% 503, 10% hang past the timeout
    "rate_429": 0.10,
    "retry_after_s": 1.0,
    "rate_500": 0.05,
    "rate_503": 0.05,
    "rate_hang": 0.10,
    "hang_s": 5.0,
}
HEALTHY = {k: 0.0 for k in ("rate_429", "rate_500", "rate_503", "rate_hang", "rate_reset")}


def ask(i: int) -> ChatRequest:
    text = f"What is {i} + {i * 3 % 97}?"
    return ChatRequest(model="-", messages=[Message("user", text)], seed=i)


def registry(provider: Provider) -> ProviderRegistry:
    return ProviderRegistry({"sim": provider}, {"sim": "sim"})


def in_process_sim(faults: dict[str, Any], seed: int = 11) -> SimProvider:
    sim = SimProvider(load_sim_config())
    sim.patch_config(
        {
            "time_scale": 0,
            "fault_seed": seed,
            "models": {"sim-large": {"faults": faults}, "sim-small": {"faults": HEALTHY}},
        }
    )
    return sim


async def test_flaky_primary_with_healthy_fallback_serves_999_per_mille_of_2000_calls() -> None:
    fake = FakeTime()
    router = Router(
        registry(in_process_sim(FLAKY)),
        Catalog.bundled(),
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.1, rand=random.Random(5).random),
        timeout_s=0.02,  # hangs are real waits in the in-process sim: keep them short
        clock=fake.clock,
        sleep=fake.sleep,
    )
    results: list[RoutedResponse | ProviderError] = []
    for i in range(2000):
        fake.now += 0.05  # 20 calls/s of simulated wall time, so breaker cooldowns can pass
        try:
            results.append(await router.complete(ask(i), CHAIN))
        except ProviderError as exc:
            results.append(exc)
    served = [r for r in results if isinstance(r, RoutedResponse)]
    assert len(served) >= 1998, Counter(type(r).__name__ for r in results)

    tried = [a for r in served for a in r.attempts if a.provider == "sim" and not a.skipped]
    primary = [a for a in tried if a.model == "sim-large"]
    errors = Counter(a.error for a in primary)
    assert {"rate_limit_exceeded", "server_error", "timeout"} <= set(errors)
    assert 0.2 < sum(n for e, n in errors.items() if e) / len(primary) < 0.4  # ~30% injected
    by_primary = sum(r.served_by == PRIMARY for r in served)
    # retries rescue most primary failures; the fallback serves the rest, including the spells
    # when 5 failures in a row (expected a few times at 30%) open the primary's circuit
    assert 0.3 * len(served) < by_primary < len(served)
    after_429 = [a.retry_delay_s for a in primary if a.error == "rate_limit_exceeded"]
    assert {d for d in after_429 if d} == {1.0}  # Retry-After waited exactly
    assert all(r.cost_usd > 0 for r in served)


async def test_breaker_opens_on_a_dead_primary_and_recovers_through_a_half_open_probe() -> None:
    sim = in_process_sim({"rate_503": 1.0})
    fake = FakeTime()
    router = Router(
        registry(sim),
        Catalog.bundled(),
        retry=RetryPolicy(max_attempts=1),
        breaker_config=BreakerConfig(failure_threshold=5, cooldown_s=30),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    first = [await router.complete(ask(i), CHAIN) for i in range(12)]
    assert all(r.served_by == FALLBACK for r in first)
    assert sim.stats()["models"]["sim-large"]["calls"] == 5  # then the circuit opened
    assert [r.attempts[0].error for r in first[5:]] == ["circuit_open"] * 7
    assert router.breaker(PRIMARY).state == "open"

    sim.patch_config({"models": {"sim-large": {"faults": {"rate_503": 0.0}}}})
    fake.now += 29
    assert (await router.complete(ask(99), CHAIN)).served_by == FALLBACK  # still cooling down
    fake.now += 1
    assert router.breaker(PRIMARY).state == "half_open"
    probe = await router.complete(ask(100), CHAIN)
    assert probe.served_by == PRIMARY and not probe.fallback_used
    assert router.breaker(PRIMARY).state == "closed"
    after = [await router.complete(ask(i), CHAIN) for i in range(5)]
    assert all(r.served_by == PRIMARY for r in after)


async def test_failed_half_open_probe_reopens_the_circuit() -> None:
    sim = in_process_sim({"rate_500": 1.0})
    fake = FakeTime()
    router = Router(
        registry(sim),
        Catalog.bundled(),
        retry=RetryPolicy(max_attempts=1),
        breaker_config=BreakerConfig(failure_threshold=2, cooldown_s=10),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    for i in range(3):
        await router.complete(ask(i), CHAIN)
    fake.now += 10
    probe = await router.complete(ask(9), CHAIN)
    assert probe.attempts[0].error == "server_error" and probe.served_by == FALLBACK
    assert router.breaker(PRIMARY).state == "open"
    assert sim.stats()["models"]["sim-large"]["calls"] == 3


async def test_in_process_midstream_cuts_never_end_as_a_quiet_short_answer() -> None:
    sim = in_process_sim({"rate_midstream_cut": 0.4})
    router = Router(registry(sim), Catalog.bundled(), retry=RetryPolicy(max_attempts=2))
    outcomes = Counter[str]()
    for i in range(300):
        outcomes[await stream_outcome(router.stream(ask(i), CHAIN))] += 1
    assert set(outcomes) <= {"complete", "interrupted"}, outcomes
    assert outcomes["interrupted"] > 60 and outcomes["complete"] > 100


async def stream_outcome(stream: AsyncIterator[StreamChunk]) -> str:
    """'complete' only with output and a finish_reason; a cut must raise, never just end."""
    finished, text = False, ""
    try:
        async for chunk in stream:
            text += (chunk.content or "") + (chunk.refusal or "")
            text += "".join(d.arguments for d in chunk.tool_calls or ())
            finished = finished or chunk.finish_reason is not None
    except StreamInterrupted as exc:
        assert exc.attempts and exc.attempts[-1].error == "stream_interrupted"
        return "interrupted"
    return "complete" if finished and text else "TRUNCATED"


# -- over real HTTP -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimServer]:
    with SimServer(load_sim_config(), time_scale=0) as server:
        yield server


@pytest.fixture
async def http_sim(sim_server: SimServer) -> AsyncIterator[OpenAICompatProvider]:
    healthy = {**HEALTHY, "rate_midstream_cut": 0.0, "script": [], "cut_after_chunks": None}
    sim_server.patch_config(
        {
            "fault_seed": 3,
            "models": {"sim-large": {"faults": healthy}, "sim-small": {"faults": healthy}},
        }
    )
    provider = OpenAICompatProvider("sim", base_url=sim_server.openai_base_url)
    yield provider
    await provider.aclose()


async def test_flaky_primary_over_http_with_concurrency(
    sim_server: SimServer, http_sim: OpenAICompatProvider
) -> None:
    sim_server.patch_config({"models": {"sim-large": {"faults": {**FLAKY, "hang_s": 3.0}}}})
    fake = FakeTime()
    router = Router(
        registry(http_sim),
        Catalog.bundled(),
        retry=RetryPolicy(max_attempts=3, rand=random.Random(1).random),
        timeout_s=1.0,  # generous: other work on a shared CPU must not look like a hang
        sleep=fake.sleep,  # real clock and real timeouts; backoff recorded, not slept
    )
    sem = asyncio.Semaphore(25)

    async def one(i: int) -> RoutedResponse | ProviderError:
        async with sem:
            try:
                return await router.complete(ask(i), CHAIN)
            except ProviderError as exc:
                return exc

    results = await asyncio.gather(*(one(i) for i in range(300)))
    served = [r for r in results if isinstance(r, RoutedResponse)]
    assert len(served) == 300, Counter(getattr(r, "code", "ok") for r in results)
    errors = Counter(a.error for r in served for a in r.attempts if a.model == "sim-large")
    assert {"rate_limit_exceeded", "server_error", "timeout"} <= set(errors)


async def test_retry_after_from_the_wire_is_waited_for_real(
    sim_server: SimServer, http_sim: OpenAICompatProvider
) -> None:
    sim_server.patch_config(
        {"models": {"sim-large": {"faults": {"script": ["429"], "retry_after_s": 0.4}}}}
    )
    router = Router(registry(http_sim), Catalog.bundled(), retry=RetryPolicy(max_attempts=2))
    started = time.perf_counter()
    routed = await router.complete(ask(1), [PRIMARY])
    elapsed = time.perf_counter() - started
    assert routed.served_by == PRIMARY
    assert [(a.error, a.retry_delay_s) for a in routed.attempts] == [
        ("rate_limit_exceeded", 0.4),
        (None, 0.0),
    ]
    assert 0.4 <= elapsed < 1.5


async def test_cut_before_any_output_over_http_falls_back_invisibly(
    sim_server: SimServer, http_sim: OpenAICompatProvider
) -> None:
    sim_server.patch_config(
        {"models": {"sim-large": {"faults": {"rate_midstream_cut": 1.0, "cut_after_chunks": 1}}}}
    )
    router = Router(registry(http_sim), Catalog.bundled(), retry=RetryPolicy(max_attempts=1))
    stream = router.stream(ask(2), CHAIN)
    assert await stream_outcome(stream) == "complete"
    assert stream.served_by == FALLBACK and stream.fallback_used  # type: ignore[attr-defined]


async def test_midstream_cuts_over_http_raise_and_never_truncate_quietly(
    sim_server: SimServer, http_sim: OpenAICompatProvider
) -> None:
    sim_server.patch_config({"models": {"sim-large": {"faults": {"rate_midstream_cut": 0.5}}}})
    router = Router(registry(http_sim), Catalog.bundled(), retry=RetryPolicy(max_attempts=2))
    outcomes = Counter[str]()
    for i in range(60):
        outcomes[await stream_outcome(router.stream(ask(i), CHAIN))] += 1
    assert set(outcomes) <= {"complete", "interrupted"}, outcomes
    assert outcomes["interrupted"] >= 10 and outcomes["complete"] >= 10
