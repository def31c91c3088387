"""`SimProvider`: the simulator as an in-process `Provider`, for fast unit tests and benches.

It calls the engine directly (no HTTP) and turns planned faults into the errors a real adapter
raises: 429 → RateLimited(retry_after), 500/503 → ProviderUnavailable, connection reset →
ProviderConnectionError, hang → ProviderTimeout after waiting min(timeout, hang_s) real seconds
(hangs are never shortened by `time_scale`: they exist to exercise the caller's timeout),
mid-stream cut → StreamInterrupted after some chunks (for `complete`, a cut body is a
ProviderConnectionError). Normal latency is `time_scale` × the planned timings; a planned
latency beyond `timeout` becomes ProviderTimeout.

The `latency_s`/`ttft_s` a response reports are the simulated server's (planned timings ×
`time_scale`, plus a hang), as a provider's own processing time would be, not this call's wall
clock: in-process, the simulator's CPU work (planning the answer) runs on the caller's event
loop, so on a loaded machine the wall clock measures the caller's queueing — an eval's latency
axis would compare the host's load instead of the models. The call still really waits.

    provider = SimProvider(SimConfig.model_validate({...}))      # or SimProvider() for defaults
    resp = await provider.complete(ChatRequest("sim-large", [Message("user", "2+2?")]), timeout=5)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from rampway.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from rampway.providers.sim import _tokens
from rampway.providers.sim._config import SimConfig, load_sim_config
from rampway.providers.sim._runtime import SimPlan, SimRuntime
from rampway.providers.types import (
    ChatRequest,
    ChatResponse,
    StreamChunk,
    ToolCallDelta,
    Usage,
)


def fault_error(plan: SimPlan, provider: str) -> ProviderError | None:
    """The error a planned 429/500/503/reset surfaces as (hangs and cuts are handled by I/O)."""
    kind, model = plan.fault.kind, plan.model
    if kind == "429":
        return RateLimited("Rate limit reached (simulated)", provider=provider, model=model,
                           status=429, retry_after=plan.fault.retry_after_s)
    if kind in ("500", "503"):
        return ProviderUnavailable(f"Upstream error {kind} (simulated)", provider=provider,
                                   model=model, status=int(kind))
    if kind == "reset":
        return ProviderConnectionError("Connection reset by peer (simulated)", provider=provider,
                                       model=model)
    return None


class SimProvider:
    """In-process simulated provider implementing the `Provider` protocol."""

    def __init__(self, config: SimConfig | None = None, *, name: str = "sim") -> None:
        self.name = name
        self.runtime = SimRuntime(config if config is not None else load_sim_config())

    async def aclose(self) -> None:
        """Nothing to release; present for the protocol."""

    def patch_config(self, patch: dict[str, Any]) -> SimConfig:
        return self.runtime.patch(patch)

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    async def _wait(self, seconds: float, deadline: float, plan: SimPlan) -> None:
        """Sleep `seconds`, or until the deadline and then time out."""
        if seconds <= 0:
            return
        remaining = deadline - time.monotonic()
        if seconds > remaining:
            await asyncio.sleep(max(0.0, remaining))
            raise ProviderTimeout(f"Request timed out (simulated, {plan.model})",
                                  provider=self.name, model=plan.model)
        await asyncio.sleep(seconds)

    async def _start(self, request: ChatRequest, timeout: float, stream: bool) -> tuple[
            SimPlan, float]:
        plan = self.runtime.plan(request, stream=stream)
        error = fault_error(plan, self.name)
        if error is not None:
            raise error
        deadline = time.monotonic() + timeout
        if plan.fault.kind == "hang":
            await self._wait(plan.fault.hang_s, deadline, plan)
        await self._wait(plan.timing.ttft_s * plan.time_scale, deadline, plan)
        return plan, deadline

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        plan, deadline = await self._start(request, timeout, stream=False)
        choice = plan.choices[0]
        ttft = _planned_ttft(plan)
        generation = plan.timing.per_token_s * choice.output_tokens * plan.time_scale
        await self._wait(generation, deadline, plan)
        if plan.fault.kind == "midstream_cut":
            raise ProviderConnectionError("Connection closed before the response body ended "
                                          "(simulated)", provider=self.name, model=plan.model)
        return ChatResponse(
            id=f"chatcmpl-{plan.id}", model=plan.reported_model, content=choice.content,
            finish_reason=choice.finish_reason, usage=plan.usage, tool_calls=choice.tool_calls,
            refusal=choice.refusal, provider=self.name,
            latency_s=ttft + generation, ttft_s=ttft, stop_sequence=choice.stop_sequence,
            system_fingerprint=plan.profile.fingerprint,
            logprobs=None if plan.top_logprobs is None or choice.content is None else
            _tokens.logprobs(choice.content, plan.top_logprobs))

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        plan, deadline = await self._start(request, timeout, stream=True)
        chunks = stream_chunks(plan)
        cut = plan.fault.cut_point(len(chunks) - 1) if plan.fault.kind == "midstream_cut" else -1
        per_token = plan.timing.per_token_s * plan.time_scale
        for i, chunk in enumerate(chunks):
            if i == cut:
                raise StreamInterrupted("Stream cut after partial output (simulated)",
                                        provider=self.name, model=plan.model)
            if i:
                await self._wait(per_token, deadline, plan)
            yield chunk


def _planned_ttft(plan: SimPlan) -> float:
    """Seconds the simulated server takes to its first token: a hang (real seconds), then ttft."""
    hang = plan.fault.hang_s if plan.fault.kind == "hang" else 0.0
    return hang + plan.timing.ttft_s * plan.time_scale


def stream_chunks(plan: SimPlan) -> list[StreamChunk]:
    """Normalized chunks for choice 0: one per token piece (or tool call), then the finish."""
    choice = plan.choices[0]
    cid, model = f"chatcmpl-{plan.id}", plan.reported_model
    out: list[StreamChunk] = []
    if choice.refusal is not None:
        out = [StreamChunk(refusal=p, id=cid, model=model) for p in _tokens.pieces(choice.refusal)]
    elif choice.tool_calls:
        for i, call in enumerate(choice.tool_calls):
            out.append(StreamChunk(tool_calls=[ToolCallDelta(i, call.id, call.name, "")], id=cid,
                                   model=model))
            out.extend(StreamChunk(tool_calls=[ToolCallDelta(i, arguments=p)], id=cid,
                                   model=model) for p in _tokens.pieces(call.arguments))
    else:
        out = [StreamChunk(content=p, id=cid, model=model)
               for p in _tokens.pieces(choice.content or "")]
    usage = Usage(plan.usage.input_tokens, plan.usage.output_tokens, plan.usage.cached_tokens)
    out.append(StreamChunk(finish_reason=choice.finish_reason, usage=usage, id=cid, model=model,
                           stop_sequence=choice.stop_sequence))
    return out

__all__ = ["SimProvider", "fault_error", "stream_chunks"]
