"""Router.complete over scripted providers: retries, fallback, context windows, breaker."""

from __future__ import annotations

import asyncio

import pytest
from router_fakes import HANG, FakeRegistry, FakeTime, ScriptedProvider, small_catalog

from rampway.errors import (
    CircuitOpen,
    ConfigError,
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from rampway.providers.catalog import Catalog
from rampway.providers.types import ChatRequest, ChatResponse, Message
from rampway.router import BreakerConfig, RetryPolicy, Router, Target

PRIMARY = Target("primary", "sim-large")
BACKUP = Target("backup", "sim-small")


def request(text: str = "hello") -> ChatRequest:
    return ChatRequest(model="whatever", messages=[Message("user", text)])


def make_router(
    *providers: ScriptedProvider,
    retry: RetryPolicy | None = None,
    breaker: BreakerConfig | None = None,
    catalog: Catalog | None = None,
    timeout_s: float = 30.0,
) -> tuple[Router, FakeTime]:
    time = FakeTime()
    router = Router(
        FakeRegistry(*providers),
        catalog or Catalog.bundled(),
        retry=retry or RetryPolicy(max_attempts=3, rand=lambda: 0.5),
        breaker_config=breaker or BreakerConfig(failure_threshold=50),
        timeout_s=timeout_s,
        clock=time.clock,
        sleep=time.sleep,
    )
    return router, time


async def test_serves_from_the_primary_and_reports_one_attempt_and_its_cost() -> None:
    primary = ScriptedProvider("primary")
    router, _ = make_router(primary, ScriptedProvider("backup"))
    routed = await router.complete(request(), [PRIMARY, BACKUP])
    assert routed.served_by == PRIMARY and not routed.fallback_used
    assert routed.response.content == "answer from primary/sim-large"
    assert [(a.provider, a.model, a.error) for a in routed.attempts] == [
        ("primary", "sim-large", None)
    ]
    # 1000 in at $2.50/1M + 100 out at $10/1M (catalog found via the provider's kind "sim")
    assert routed.cost_usd == pytest.approx(0.0035)


async def test_request_model_is_set_per_target_without_mutating_the_callers_request() -> None:
    primary, backup = (
        ScriptedProvider("primary", [ProviderAuthError("no")]),
        ScriptedProvider("backup"),
    )
    router, _ = make_router(primary, backup)
    req = request()
    with pytest.raises(ProviderAuthError):
        await router.complete(req, [PRIMARY, BACKUP])
    assert primary.calls == ["sim-large"] and req.model == "whatever"


async def test_retries_a_5xx_on_the_same_target_after_a_backoff() -> None:
    primary = ScriptedProvider("primary", [ProviderUnavailable("503", status=503)])
    router, time = make_router(primary)
    routed = await router.complete(request(), [PRIMARY])
    assert [a.error for a in routed.attempts] == ["server_error", None]
    assert routed.attempts[0].status == 503
    assert time.sleeps == [0.125]  # full jitter: rand 0.5 * base 0.25
    assert routed.attempts[0].retry_delay_s == 0.125


async def test_retry_after_is_honoured_before_the_retry() -> None:
    primary = ScriptedProvider("primary", [RateLimited("429", retry_after=7.0)])
    router, time = make_router(primary)
    routed = await router.complete(request(), [PRIMARY])
    assert time.sleeps == [7.0]
    assert routed.attempts[0].error == "rate_limit_exceeded"


async def test_falls_back_after_the_primary_uses_up_its_attempts() -> None:
    primary = ScriptedProvider("primary", default=ProviderUnavailable("down"))
    backup = ScriptedProvider("backup")
    router, _ = make_router(primary, backup)
    routed = await router.complete(request(), [PRIMARY, BACKUP])
    assert routed.served_by == BACKUP and routed.fallback_used
    assert [(a.provider, a.error) for a in routed.attempts] == [
        ("primary", "server_error"),
        ("primary", "server_error"),
        ("primary", "server_error"),
        ("backup", None),
    ]
    assert routed.cost_usd == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)


@pytest.mark.parametrize("error", [ProviderAuthError("401"), ProviderBadRequest("400")])
async def test_auth_and_bad_request_errors_do_not_fall_back(error: Exception) -> None:
    primary = ScriptedProvider("primary", [error])
    backup = ScriptedProvider("backup")
    router, _ = make_router(primary, backup)
    with pytest.raises(type(error)) as info:
        await router.complete(request(), [PRIMARY, BACKUP])
    assert backup.calls == []
    assert len(info.value.attempts) == 1  # type: ignore[attr-defined]


async def test_all_targets_failing_raises_the_last_error_with_every_attempt() -> None:
    primary = ScriptedProvider("primary", default=ProviderUnavailable("p down"))
    backup = ScriptedProvider("backup", default=RateLimited("b limited", retry_after=0.5))
    router, _ = make_router(primary, backup, retry=RetryPolicy(max_attempts=2, rand=lambda: 0))
    with pytest.raises(RateLimited, match="b limited") as info:
        await router.complete(request(), [PRIMARY, BACKUP])
    attempts = info.value.attempts
    assert [(a.provider, a.error) for a in attempts] == [
        ("primary", "server_error"),
        ("primary", "server_error"),
        ("backup", "rate_limit_exceeded"),
        ("backup", "rate_limit_exceeded"),
    ]


async def test_per_attempt_timeout_turns_a_hang_into_a_timeout_and_falls_back() -> None:
    primary = ScriptedProvider("primary", default=HANG)
    backup = ScriptedProvider("backup")
    router, _ = make_router(
        primary, backup, timeout_s=0.02, retry=RetryPolicy(max_attempts=2, rand=lambda: 0)
    )
    routed = await router.complete(request(), [PRIMARY, BACKUP])
    assert [a.error for a in routed.attempts] == ["timeout", None]  # no second wait on a hang
    assert routed.served_by == BACKUP


async def test_unknown_provider_or_model_fails_before_any_call_when_nothing_routes() -> None:
    primary = ScriptedProvider("primary")
    router, _ = make_router(primary)
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        await router.complete(request(), [Target("nope", "sim-large"), Target("primary", "x")])
    with pytest.raises(ConfigError, match="unknown model primary/gpt-9"):
        await router.complete(request(), [Target("primary", "gpt-9")])
    with pytest.raises(ConfigError, match="no targets"):
        await router.complete(request(), [])
    assert primary.calls == []


async def test_an_unroutable_target_is_skipped_to_the_next_and_reported() -> None:
    primary = ScriptedProvider("primary")
    router, _ = make_router(primary)
    seen: list[Target] = []
    router.on_unroutable = seen.append
    chain = [Target("primary", "gpt-9"), PRIMARY, Target("nope", "sim-large")]
    routed = await router.complete(request(), chain)
    assert routed.served_by == PRIMARY and routed.fallback_used
    assert [(a.provider, a.model, a.error, a.skipped) for a in routed.attempts] == [
        ("primary", "gpt-9", "unroutable_model", True),
        ("nope", "sim-large", "unroutable_model", True),  # found while routing, never tried
        ("primary", "sim-large", None, False)]
    assert seen == [Target("primary", "gpt-9"), Target("nope", "sim-large")]
    stream = router.stream(request(), chain)
    assert [c async for c in stream] and stream.fallback_used
    assert primary.calls == ["sim-large", "sim-large"]


async def test_prompt_over_a_context_window_skips_to_a_larger_model_without_a_call() -> None:
    a, b, c = ScriptedProvider("a"), ScriptedProvider("b"), ScriptedProvider("c")
    router, _ = make_router(a, b, c, catalog=small_catalog())
    routed = await router.complete(request("x" * 400), [Target("a", "tiny"), Target("c", "big")])
    assert a.calls == [] and routed.served_by == Target("c", "big")
    assert routed.attempts[0].skipped and routed.attempts[0].error == "context_length_exceeded"


async def test_prompt_that_fits_no_target_raises_before_any_network_call() -> None:
    a, b = ScriptedProvider("a"), ScriptedProvider("b")
    router, _ = make_router(a, b, catalog=small_catalog())
    with pytest.raises(ContextWindowExceeded) as info:
        await router.complete(request("x" * 4000), [Target("a", "tiny"), Target("b", "mid")])
    assert a.calls == [] and b.calls == []
    assert all(x.skipped for x in info.value.attempts)


async def test_upstream_context_error_skips_targets_that_are_not_larger() -> None:
    overflow = ContextWindowExceeded("too long", status=400)
    b = ScriptedProvider("b", [overflow])
    c = ScriptedProvider("c")
    router, _ = make_router(b, c, catalog=small_catalog())
    chain = [Target("b", "mid"), Target("b", "mid2"), Target("c", "big")]
    routed = await router.complete(request(), chain)
    assert b.calls == ["mid"]  # not retried, and mid2 (same window) skipped
    assert [(a.model, a.error, a.skipped) for a in routed.attempts] == [
        ("mid", "context_length_exceeded", False),
        ("mid2", "context_length_exceeded", True),
        ("big", None, False),
    ]


async def test_breaker_opens_then_skips_the_primary_then_recovers_via_a_probe() -> None:
    primary = ScriptedProvider("primary", [ProviderUnavailable("x")] * 3)
    backup = ScriptedProvider("backup")
    router, time = make_router(
        primary,
        backup,
        retry=RetryPolicy(max_attempts=1),
        breaker=BreakerConfig(failure_threshold=3, cooldown_s=60),
    )
    for _ in range(3):
        await router.complete(request(), [PRIMARY, BACKUP])
    assert router.breaker(PRIMARY).state == "open"
    routed = await router.complete(request(), [PRIMARY, BACKUP])
    assert len(primary.calls) == 3  # not called while open
    assert routed.attempts[0].error == "circuit_open" and routed.attempts[0].skipped
    time.now += 60
    assert router.breaker(PRIMARY).state == "half_open"
    routed = await router.complete(request(), [PRIMARY, BACKUP])
    assert routed.served_by == PRIMARY and len(primary.calls) == 4
    assert router.breaker(PRIMARY).state == "closed"


async def test_only_target_with_open_circuit_fails_fast_with_circuit_open() -> None:
    primary = ScriptedProvider("primary", default=ProviderUnavailable("x"))
    router, _ = make_router(
        primary,
        retry=RetryPolicy(max_attempts=5, rand=lambda: 0),
        breaker=BreakerConfig(failure_threshold=2, cooldown_s=60),
    )
    with pytest.raises(ProviderUnavailable) as first:
        await router.complete(request(), [PRIMARY])
    assert len(first.value.attempts) == 2  # retries stopped once the breaker opened
    with pytest.raises(CircuitOpen):
        await router.complete(request(), [PRIMARY])
    assert len(primary.calls) == 2


async def test_bad_requests_do_not_count_against_the_breaker() -> None:
    primary = ScriptedProvider("primary", default=ProviderBadRequest("bad"))
    router, _ = make_router(primary, breaker=BreakerConfig(failure_threshold=1))
    for _ in range(3):
        with pytest.raises(ProviderBadRequest):
            await router.complete(request(), [PRIMARY])
    assert router.breaker(PRIMARY).state == "closed"


async def test_no_retry_sleeps_past_the_call_deadline() -> None:
    primary = ScriptedProvider("primary", default=RateLimited("x", retry_after=4))
    backup = ScriptedProvider("backup", default=RateLimited("y", retry_after=4))
    router, time = make_router(primary, backup, retry=RetryPolicy(max_attempts=10, deadline_s=10))
    with pytest.raises(RateLimited, match="y"):
        await router.complete(request(), [PRIMARY, BACKUP])
    assert time.sleeps == [4.0, 4.0]  # a third wait would end past the 10 s deadline
    assert len(primary.calls) == 3 and len(backup.calls) == 1  # backup gets the last 2 s


async def test_an_exhausted_deadline_skips_the_remaining_targets() -> None:
    time_box: list[FakeTime] = []

    class Slow(ScriptedProvider):
        async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
            time_box[0].now += 11
            return await super().complete(request, timeout=timeout)

    primary = Slow("primary", default=ProviderUnavailable("x"))
    backup = ScriptedProvider("backup")
    router, time = make_router(primary, backup, retry=RetryPolicy(deadline_s=10))
    time_box.append(time)
    with pytest.raises(ProviderTimeout, match="deadline") as info:
        await router.complete(request(), [PRIMARY, BACKUP])
    assert backup.calls == [] and len(primary.calls) == 1
    assert info.value.attempts[-1].skipped


async def test_a_cancelled_probe_frees_the_half_open_slot() -> None:
    primary = ScriptedProvider("primary", [ProviderUnavailable("x"), HANG])
    router, time = make_router(
        primary,
        retry=RetryPolicy(max_attempts=1),
        breaker=BreakerConfig(failure_threshold=1, cooldown_s=1),
    )
    with pytest.raises(ProviderUnavailable):
        await router.complete(request(), [PRIMARY])
    time.now += 1
    task = asyncio.create_task(router.complete(request(), [PRIMARY]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    routed = await router.complete(request(), [PRIMARY])  # the slot was released
    assert routed.served_by == PRIMARY
