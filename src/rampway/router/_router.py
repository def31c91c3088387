"""The router: one call path in four layers, each with one concern (STYLE.md #2).

    route      – resolve targets (unknown provider/model: skipped, counted; ConfigError before
                 any network call when none resolves), estimate the prompt size, build the record
    fallback   – walk the targets in order; skip those whose circuit is open or whose context
                 window is too small; stop on errors that must not fall back (auth, bad request);
                 hedge a slow target with the next one when its `hedge_after` is set
    retries    – retry one target while RetryPolicy says so, sleeping its delay
    attempt    – one timed call under the per-attempt timeout; records an Attempt and tells the
                 target's CircuitBreaker how it went

Streaming shares the same layers: a stream "attempt" succeeds once the first chunk with content
(or a finish) has arrived. Until then, failures retry and fall back invisibly; after it the
caller has seen output, so a failure raises StreamInterrupted rather than splicing two models'
answers or ending quietly with a truncated one.

Hedging (non-streaming calls, off unless `gateway.routing` sets `hedge_after`): when a target has
not answered after `hedge_after` seconds, the next target of the chain gets the same request
too; the first complete answer wins and the other request is cancelled (recorded as an attempt
with error `hedge_cancelled`). A failure of either side leaves the other running; if both fail,
the fallback goes on after the two. Streams are not hedged: once a chunk reached the caller,
the answer cannot switch to another model.

Example:
    router = Router(registry, Catalog.load())
    chain = [Target("sim", "sim-large"), Target("sim", "sim-small")]
    routed = await router.complete(request, chain)
    routed.served_by, routed.cost_usd, [a.error for a in routed.attempts]
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from rampway.errors import (
    CircuitOpen,
    ConfigError,
    ContextWindowExceeded,
    ProviderError,
    ProviderTimeout,
    StreamInterrupted,
)
from rampway.providers.catalog import Catalog, ModelInfo, estimate_tokens
from rampway.providers.types import ChatRequest, ChatResponse, Provider, StreamChunk, Usage
from rampway.router._types import Attempt, RoutedResponse, Target
from rampway.router.breaker import BreakerConfig, CircuitBreaker
from rampway.router.limits import RouteLimits
from rampway.router.retry import RetryPolicy

T = TypeVar("T")


class ProviderSource(Protocol):
    """What the router needs from a provider registry."""

    def get(self, name: str) -> Provider: ...

    def kind(self, name: str) -> str: ...


@dataclass(slots=True)
class _Resolved:
    target: Target
    provider: Provider
    info: ModelInfo
    breaker: CircuitBreaker
    timeout_s: float  # per attempt (a stream: until its first chunk, then between chunks)
    retry: RetryPolicy  # the router's, with this target's attempts and the call deadline
    hedge_after_s: float | None = None  # non-streaming: ask the next target too after this


@dataclass(slots=True)
class _Call:
    """Per-call bookkeeping shared by the layers."""

    started: float
    prompt_tokens: int
    attempts: list[Attempt] = field(default_factory=list)
    context_floor: int = 0  # a target with a window this small or smaller already overflowed
    hedged_to: Target | None = None  # where a hedged second request was sent


@dataclass(slots=True)
class _Primed:
    """An opened provider stream and the chunks read up to the first content."""

    chunks: AsyncIterator[StreamChunk]
    head: list[StreamChunk]


class Router:
    """Retries, timeouts, fallback chains and circuit breaking over a provider registry.

    One Router per process (or per gateway app); it owns the breakers, so their state is
    shared by every call that goes through it. `clock` and `sleep` are injectable so fault
    tests run thousands of calls in seconds.

    `limits` (from `gateway.routing`) sets the per-target attempt timeout and attempts and the
    call's deadline; without it, `timeout_s` and `retry` apply to every target.
    """

    def __init__(
        self,
        providers: ProviderSource,
        catalog: Catalog,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        breaker_config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_unroutable: Callable[[Target], object] | None = None,
        limits: RouteLimits | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ConfigError(f"router timeout_s must be > 0, got {timeout_s}")
        self.providers = providers
        self.catalog = catalog
        self.retry = retry or RetryPolicy()
        self.limits = limits
        if limits is not None:
            self.retry = dataclasses.replace(self.retry, deadline_s=limits.deadline_s)
        self.timeout_s = timeout_s
        self.breaker_config = breaker_config or BreakerConfig()
        self._clock = clock
        self._sleep = sleep
        # A target the registry or catalog cannot resolve is skipped, never fatal while a
        # later one can serve; the gateway counts each skip (rampway_unroutable_skips_total).
        self.on_unroutable = on_unroutable
        self._resolved: dict[Target, _Resolved] = {}

    def breaker(self, target: Target) -> CircuitBreaker:
        """The breaker for one (provider, model); created on first use."""
        return self._resolve(target).breaker

    # -- route ------------------------------------------------------------------------------

    async def complete(
        self, request: ChatRequest, targets: Sequence[Target], *, feature: str | None = None
    ) -> RoutedResponse:
        """Serve `request` from the first target that answers; `request.model` is per target.
        `feature` picks its own hedging threshold, if the routing limits give it one."""
        plan, call = self._route(request, targets)
        hedge_s = None if self.limits is None else self.limits.hedge_for(feature)
        res, response = await self._fallback(request, plan, call, self._complete_once,
                                             hedge=True, hedge_s=hedge_s)
        return RoutedResponse(
            response=response,
            attempts=call.attempts,
            served_by=res.target,
            cost_usd=res.info.cost(response.usage),
            fallback_used=res.target != targets[0],
            hedged=call.hedged_to is not None,
            hedge_won=call.hedged_to is not None and res.target == call.hedged_to,
        )

    def stream(self, request: ChatRequest, targets: Sequence[Target]) -> RoutedStream:
        """An async iterator of chunks; resolution errors raise here, before any I/O."""
        plan, call = self._route(request, targets)
        return RoutedStream(self, request, plan, call)

    def _route(
        self, request: ChatRequest, targets: Sequence[Target]
    ) -> tuple[list[_Resolved], _Call]:
        if not targets:
            raise ConfigError("no targets to route to: a release needs a model")
        call = _Call(self._clock(), estimate_tokens(request.messages, request.tools))
        plan: list[_Resolved] = []
        first: ConfigError | None = None
        for target in targets:
            try:
                plan.append(self._resolve(target))
            except ConfigError as exc:  # unroutable (e.g. a flag's model): skip to the next
                first = first or exc
                call.attempts.append(Attempt(target.provider, target.model, "unroutable_model",
                                             None, 0.0, skipped=True))
                if self.on_unroutable is not None:
                    self.on_unroutable(target)
        if first is not None and not plan:
            raise first
        return plan, call

    def _resolve(self, target: Target) -> _Resolved:
        res = self._resolved.get(target)
        if res is None:
            provider = self.providers.get(target.provider)
            info = self.catalog.resolve(
                target.provider, target.model, self.providers.kind(target.provider)
            )
            breaker = CircuitBreaker(self.breaker_config, clock=self._clock)
            timeout, retry, hedge = self.timeout_s, self.retry, None
            if self.limits is not None:
                lim = self.limits.for_target(target)
                timeout, hedge = lim.timeout_s, lim.hedge_after_s
                retry = dataclasses.replace(retry, max_attempts=lim.attempts)
            res = _Resolved(target, provider, info, breaker, timeout, retry, hedge)
            self._resolved[target] = res
        return res

    # -- fallback ---------------------------------------------------------------------------

    async def _fallback(
        self,
        request: ChatRequest,
        plan: list[_Resolved],
        call: _Call,
        once: Callable[[ChatRequest, _Resolved, float], Awaitable[T]],
        *,
        hedge: bool = False,
        hedge_s: float | None = None,
    ) -> tuple[_Resolved, T]:
        """With `hedge`, a target is hedged after `hedge_s` (or its own `hedge_after_s`)."""
        last: ProviderError | None = None
        queue = list(plan)
        while queue:
            res = queue.pop(0)
            refusal = self._refuse(res, call)
            if refusal is not None:
                last = refusal
                continue
            try:
                after = res.hedge_after_s if hedge_s is None else hedge_s
                if hedge and after is not None and queue:
                    return await self._hedged(request, res, after, queue, call, once)
                return res, await self._retries(request, res, call, once)
            except ProviderError as exc:
                last = exc
                if isinstance(exc, ContextWindowExceeded):
                    call.context_floor = max(call.context_floor, res.info.context_window)
                if not exc.falls_back:
                    break
        assert last is not None  # plan is non-empty and every path above sets it
        last.attempts = call.attempts
        raise last

    async def _hedged(
        self,
        request: ChatRequest,
        res: _Resolved,
        after_s: float,
        queue: list[_Resolved],
        call: _Call,
        once: Callable[[ChatRequest, _Resolved, float], Awaitable[T]],
    ) -> tuple[_Resolved, T]:
        """`res`, and after `after_s` seconds the next usable target of `queue` as well (taken
        off the queue): the first success wins, the other is cancelled. Raises the last
        failure when both fail (or the first one's, when no second request was sent)."""
        tasks: dict[asyncio.Future[T], tuple[_Resolved, float]] = {}
        tasks[asyncio.ensure_future(self._retries(request, res, call, once))] = (
            res, self._clock())
        try:
            done, _ = await asyncio.wait(tasks, timeout=after_s)
            if not done:
                while queue and self._refuse(queue[0], call) is not None:
                    queue.pop(0)  # recorded as skipped; the fallback will not try it again
                if queue:
                    second = queue.pop(0)
                    call.hedged_to = second.target
                    tasks[asyncio.ensure_future(self._retries(request, second, call, once))] = (
                        second, self._clock())
            return await self._first_success(tasks, call)
        finally:
            await _cancel_all(tasks)

    async def _first_success(
        self, tasks: dict[asyncio.Future[T], tuple[_Resolved, float]], call: _Call
    ) -> tuple[_Resolved, T]:
        pending = set(tasks)
        error: BaseException | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is None:
                    for loser in pending:
                        target, started = tasks[loser][0].target, tasks[loser][1]
                        call.attempts.append(Attempt(target.provider, target.model,
                                                     "hedge_cancelled", None,
                                                     self._clock() - started))
                    return tasks[task][0], task.result()
                if not isinstance(exc, ProviderError) or not exc.falls_back:
                    raise exc  # a bad request fails the same way on the other side
                error = exc
        assert error is not None
        raise error

    def _refuse(self, res: _Resolved, call: _Call) -> ProviderError | None:
        """A local reason not to call this target at all (recorded as a skipped attempt)."""
        target, window = res.target, res.info.context_window
        error: ProviderError | None = None
        if call.prompt_tokens > window or window <= call.context_floor:
            error = ContextWindowExceeded(
                f"{target}: prompt of ~{call.prompt_tokens} tokens does not fit the "
                f"{window}-token context window",
                provider=target.provider,
                model=target.model,
            )
        elif self._remaining(call) <= 0:
            error = ProviderTimeout(
                f"{target}: call deadline of {self.retry.deadline_s}s exhausted",
                provider=target.provider,
                model=target.model,
            )
        elif not res.breaker.allow():
            error = CircuitOpen(
                f"{target}: circuit open after repeated failures",
                provider=target.provider,
                model=target.model,
            )
        if error is not None:
            call.attempts.append(
                Attempt(target.provider, target.model, error.code, None, 0.0, skipped=True)
            )
        return error

    def _remaining(self, call: _Call) -> float:
        return self.retry.deadline_s - (self._clock() - call.started)

    # -- retries ----------------------------------------------------------------------------

    async def _retries(
        self,
        request: ChatRequest,
        res: _Resolved,
        call: _Call,
        once: Callable[[ChatRequest, _Resolved, float], Awaitable[T]],
    ) -> T:
        """Call `once` until it succeeds or the policy gives up. The breaker was already asked."""
        req = request
        if request.model != res.target.model:
            req = dataclasses.replace(request, model=res.target.model)
        tries = 0
        while True:
            tries += 1
            try:
                return await self._attempt(req, res, call, once)
            except ProviderError as exc:
                delay = res.retry.next_delay(tries, exc, elapsed_s=self._clock() - call.started)
                if delay is None or res.breaker.state == "open":
                    raise
                call.attempts[-1].retry_delay_s = delay
                await self._sleep(delay)
                if not res.breaker.allow():
                    raise

    # -- attempt ----------------------------------------------------------------------------

    async def _attempt(
        self,
        req: ChatRequest,
        res: _Resolved,
        call: _Call,
        once: Callable[[ChatRequest, _Resolved, float], Awaitable[T]],
    ) -> T:
        timeout = min(res.timeout_s, self._remaining(call))
        started = self._clock()
        try:
            try:
                async with asyncio.timeout(timeout):
                    result = await once(req, res, timeout)
            except TimeoutError as exc:
                raise ProviderTimeout(
                    f"{res.target}: no answer within {timeout:.3g}s",
                    provider=res.target.provider,
                    model=res.target.model,
                ) from exc
        except ProviderError as exc:
            self._record(call, res, started, exc)
            if _upstream_fault(exc):
                res.breaker.record_failure()
            else:
                res.breaker.record_success()  # it answered; the request was the problem
            raise
        except BaseException:
            res.breaker.release()
            raise
        self._record(call, res, started, None)
        res.breaker.record_success()
        return result

    def _record(
        self, call: _Call, res: _Resolved, started: float, error: ProviderError | None
    ) -> None:
        call.attempts.append(
            Attempt(
                provider=res.target.provider,
                model=res.target.model,
                error=None if error is None else error.code,
                status=None if error is None else error.status,
                latency_s=self._clock() - started,
            )
        )

    @staticmethod
    async def _complete_once(req: ChatRequest, res: _Resolved, timeout: float) -> ChatResponse:
        return await res.provider.complete(req, timeout=timeout)

    @staticmethod
    async def _open_stream(req: ChatRequest, res: _Resolved, timeout: float) -> _Primed:
        """Open a stream and read up to the first chunk with content or a finish."""
        chunks = aiter(res.provider.stream(req, timeout=timeout))
        head: list[StreamChunk] = []
        try:
            async for chunk in chunks:
                head.append(chunk)
                if _has_output(chunk) or chunk.finish_reason is not None:
                    return _Primed(chunks, head)
            raise StreamInterrupted(
                f"{res.target}: stream ended before any output",
                provider=res.target.provider,
                model=res.target.model,
            )
        except BaseException:
            await _aclose(chunks)
            raise


class RoutedStream:
    """Chunks of one routed streaming call, plus what the router learned while serving it.

    `served_by` is set once the first chunk with content is about to be yielded (from then on
    there is no fallback); `attempts`, `usage` and `cost_usd` are complete once iteration ends.
    Close it (`await stream.aclose()`) if you stop iterating early.
    """

    def __init__(
        self, router: Router, request: ChatRequest, plan: list[_Resolved], call: _Call
    ) -> None:
        self.attempts = call.attempts
        self.served_by: Target | None = None
        self.fallback_used = False
        self.usage: Usage | None = None
        self.cost_usd = 0.0
        self._chars = 0
        self._router = router
        self._gen = self._run(request, plan, call)

    def __aiter__(self) -> RoutedStream:
        return self

    async def __anext__(self) -> StreamChunk:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def _run(
        self, request: ChatRequest, plan: list[_Resolved], call: _Call
    ) -> AsyncGenerator[StreamChunk, None]:
        router = self._router
        res, primed = await router._fallback(request, plan, call, router._open_stream)
        self.served_by = res.target
        skipped_first = bool(call.attempts) and call.attempts[0].error == "unroutable_model"
        self.fallback_used = res is not plan[0] or skipped_first
        attempt = call.attempts[-1]
        primed_at = router._clock()
        finished = False
        idle = _IdleTimer(res.timeout_s)
        try:
            for chunk in primed.head:
                finished = self._observe(chunk) or finished
                yield chunk
            while True:
                nxt = await idle.guard(_next(primed.chunks))
                if nxt is None:
                    break
                finished = self._observe(nxt) or finished
                yield nxt
            if not finished:
                raise StreamInterrupted(
                    f"{res.target}: stream ended without a finish_reason",
                    provider=res.target.provider,
                    model=res.target.model,
                )
        except (ProviderError, TimeoutError) as exc:
            raise self._interrupted(exc, res, call, attempt) from exc
        finally:
            idle.close()
            await _aclose(primed.chunks)
            attempt.latency_s += router._clock() - primed_at
        self._settle(request, res)

    def _observe(self, chunk: StreamChunk) -> bool:
        self._chars += len(chunk.content or "")
        if chunk.usage is not None:
            self.usage = chunk.usage
        return chunk.finish_reason is not None

    def _interrupted(
        self, exc: BaseException, res: _Resolved, call: _Call, attempt: Attempt
    ) -> StreamInterrupted:
        """After output reached the caller, every failure becomes a StreamInterrupted."""
        res.breaker.record_failure()
        attempt.error = StreamInterrupted.code
        attempt.status = exc.status if isinstance(exc, ProviderError) else None
        why = exc.message if isinstance(exc, ProviderError) else "no chunk within the timeout"
        err = StreamInterrupted(
            f"{res.target}: stream interrupted after output was sent: {why}",
            provider=res.target.provider,
            model=res.target.model,
        )
        err.attempts = call.attempts
        return err

    def _settle(self, request: ChatRequest, res: _Resolved) -> None:
        """Cost from reported usage; without it, estimate (some servers omit stream usage)."""
        if self.usage is None:
            self.usage = Usage(
                input_tokens=estimate_tokens(request.messages, request.tools),
                output_tokens=math.ceil(self._chars / 4),
            )
        self.cost_usd = res.info.cost(self.usage)


class _IdleTimer:
    """Times out one await on the provider's stream that takes longer than `timeout_s`.

    Same effect as wrapping each chunk in `asyncio.timeout`, at a fraction of the cost: that
    creates and cancels a timer handle per chunk (~5 µs, most of the router's streaming
    overhead), while this keeps one lazily re-armed handle per stream and pays two attribute
    writes per chunk. The timeout only ever cancels the task while it is suspended inside
    `guard`, never in the consumer's own code between chunks.
    """

    __slots__ = ("_expired", "_handle", "_loop", "_started", "_task", "_timeout")

    def __init__(self, timeout_s: float) -> None:
        self._timeout = timeout_s
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._started: float | None = None
        self._expired = False

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`; TimeoutError if it takes longer than the timeout."""
        self._task = asyncio.current_task()
        self._started = self._loop.time()
        if self._handle is None:
            self._handle = self._loop.call_at(self._started + self._timeout, self._fire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._expired and self._task is not None and self._task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            self._started = None

    def _fire(self) -> None:
        self._handle = None
        if self._started is None:
            return  # not waiting right now; the next guard() re-arms
        due = self._started + self._timeout
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._fire)
            return
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _has_output(chunk: StreamChunk) -> bool:
    return bool(chunk.content or chunk.tool_calls or chunk.refusal)


def _upstream_fault(exc: ProviderError) -> bool:
    """Errors that say the upstream is unhealthy (count against its breaker)."""
    return exc.retryable or type(exc) is ProviderError


async def _next(chunks: AsyncIterator[StreamChunk]) -> StreamChunk | None:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


async def _cancel_all(tasks: Iterable[asyncio.Future[T]]) -> None:
    """Cancel what is still running and wait for it (its breaker slot is released)."""
    running = [task for task in tasks if not task.done()]
    for task in running:
        task.cancel()
    if running:
        await asyncio.gather(*running, return_exceptions=True)


async def _aclose(chunks: AsyncIterator[StreamChunk]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


__all__ = ["ProviderSource", "RoutedStream", "Router"]
