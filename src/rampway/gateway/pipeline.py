"""The serving pipeline shared by the HTTP gateway and the in-process SDK.

    call ─▶ resolve (pluggable, pure) ─▶ build request (render managed templates) ─▶ hooks.before
         ─▶ router (retries, fallback) ─▶ record ─▶ hooks.after (metrics, event log, …)

Nothing here knows about HTTP: the gateway parses wire formats into a `CallInput` and renders the
`CallRecord`; the SDK builds the `CallInput` directly. Everything on this path is in memory
(control snapshot, release templates compiled once); the only awaits are the provider calls.

Example:
    pipeline = Pipeline(router, watcher, hooks=Hooks([MetricsHook(m), EventLogHook(w)]))
    record, response = await pipeline.complete(CallInput("support-bot", [Message("user", "hi")]))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from rampway.errors import (
    ConfigError,
    ProviderError,
    RampwayError,
    ReleaseError,
    RequestError,
    ServingError,
)
from rampway.gateway._common import check_clean
from rampway.gateway.app_tools import combine_tools
from rampway.gateway.call import CallInput, CallRecord
from rampway.gateway.hooks import Hooks
from rampway.gateway.resolve import ChannelResolver, Overrides, Resolution, Resolver
from rampway.providers.params import EXTRA_PARAMS, unsupported
from rampway.providers.types import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
)
from rampway.router import RoutedStream, Router, Target

if TYPE_CHECKING:
    from rampway.gateway.control import ControlSnapshot


class SnapshotSource(Protocol):
    """Anything holding a current `snapshot` attribute (the ControlWatcher, or a test double)."""

    @property
    def snapshot(self) -> ControlSnapshot: ...


class Pipeline:
    def __init__(
        self,
        router: Router,
        control: SnapshotSource,
        *,
        resolver: Resolver | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.router = router
        self.control = control
        self.resolver: Resolver = resolver or ChannelResolver()
        self.hooks = hooks or Hooks()

    # -- steps ------------------------------------------------------------------------------

    def prepare(self, call: CallInput) -> CallRecord:
        """Resolve and build the upstream request. Raises (and reports) rejections."""
        record = CallRecord(call=call, started=time.time())
        try:
            if call.source != "gateway":  # the gateway checked the body it parsed this from
                check_input(call)
            resolution = self.resolver.resolve(call, self.control.snapshot)
            settings = resolution.feature.settings
            if settings.require_unit:
                _check_required_units(call, settings.require_unit)
            record.resolution = resolution
            record.request = build_request(resolution, call)
            if call.params:
                check_params(call.params, targets_of(record), self.router.providers.kind)
        except RampwayError as exc:
            self.hooks.on_rejected(call, exc)
            raise
        return record

    async def complete(self, call: CallInput) -> tuple[CallRecord, ChatResponse]:
        """prepare + run_complete in one step (what the SDK uses)."""
        return await self.run_complete(self.prepare(call))

    async def run_complete(self, record: CallRecord) -> tuple[CallRecord, ChatResponse]:
        """Route a prepared call; ProviderErrors are recorded, reported to hooks and re-raised."""
        t0 = time.perf_counter()
        self.hooks.before_call(record)
        text = fallback_text(record)
        if text is not None:  # a resolution step answered (kill switch): no provider call
            response = answer_locally(record, text)
            self.hooks.after_call(record)
            return record, response
        try:
            routed = await self.router.complete(_req(record), targets_of(record),
                                                feature=_feature(record))
        except RampwayError as exc:
            fail(record, exc, time.perf_counter() - t0)
            self.hooks.after_call(record)
            raise _public(exc) from exc
        except asyncio.CancelledError:  # the client went away: the upstream call is cancelled
            record.status, record.http_status = "error", 499
            record.error_code = "client_closed"
            record.latency_s = time.perf_counter() - t0
            self.hooks.after_call(record)
            raise
        response = routed.response
        record.latency_s = time.perf_counter() - t0
        record.ttft_s = response.ttft_s
        record.provider, record.model = routed.served_by.provider, routed.served_by.model
        record.attempts = len(routed.attempts)
        record.fallback_used = routed.fallback_used
        record.hedged, record.hedge_won = routed.hedged, routed.hedge_won
        record.usage = response.usage
        record.cost_usd = routed.cost_usd
        record.served_model = response.model[:200] or None
        record.system_fingerprint = response.system_fingerprint
        record.content = response.content
        record.tool_calls = response.tool_calls
        record.refusal = response.refusal
        record.finish_reason = response.finish_reason
        self.hooks.after_call(record)
        return record, response

    def stream(self, call: CallInput) -> CallStream:
        return CallStream(self, self.prepare(call))

    def stream_prepared(self, record: CallRecord) -> CallStream:
        return CallStream(self, record)


class CallStream:
    """The chunks of one streamed call; the record is complete once iteration ends.

    Errors before the first chunk (all attempts failed) raise from the first `__anext__`, so a
    server can still answer with a proper error status; later ones raise StreamInterrupted.
    """

    def __init__(self, pipeline: Pipeline, record: CallRecord) -> None:
        self.pipeline = pipeline
        self.record = record
        self._gen = self._run()

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._gen

    async def __anext__(self) -> StreamChunk:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def _run(self) -> AsyncGenerator[StreamChunk, None]:
        record, hooks = self.record, self.pipeline.hooks
        t0 = time.perf_counter()
        hooks.before_call(record)
        acc = _Accumulator()
        routed: RoutedStream | None = None
        text = fallback_text(record)
        if text is not None:  # a resolution step answered (kill switch): no provider call
            answer = answer_locally(record, text)
            yield StreamChunk(content=text, finish_reason="stop", usage=answer.usage,
                              model=answer.model, id=answer.id)
            hooks.after_call(record)
            return
        try:
            routed = self.pipeline.router.stream(_req(record), targets_of(record))
            async for chunk in routed:
                if record.ttft_s is None and (chunk.content or chunk.tool_calls or chunk.refusal):
                    record.ttft_s = time.perf_counter() - t0
                served = routed.served_by
                if record.provider is None and served is not None:  # for the response headers
                    record.provider, record.model = served.provider, served.model
                acc.add(chunk)
                yield chunk
        except RampwayError as exc:
            acc.fill(record)
            _fill_stream(record, routed)
            fail(record, exc, time.perf_counter() - t0)
            hooks.after_call(record)
            raise _public(exc) from exc
        except BaseException:  # client went away (cancelled / generator closed)
            if routed is not None:
                await routed.aclose()  # close the upstream call now, not when collected
            acc.fill(record)
            _fill_stream(record, routed)
            record.status, record.http_status = "error", 499
            record.error_code = "client_closed"
            record.latency_s = time.perf_counter() - t0
            hooks.after_call(record)
            raise
        acc.fill(record)
        _fill_stream(record, routed)
        record.latency_s = time.perf_counter() - t0
        hooks.after_call(record)


# -- helpers --------------------------------------------------------------------------------------


def check_input(call: CallInput) -> None:
    """Refuse (400) what no upstream or event log can carry: lone surrogates, NUL characters,
    non-finite numbers (see `rampway.gateway._common.find_unclean`), before any network call,
    so they never reach an upstream (whose 500 would count against its circuit breaker)."""
    for i, m in enumerate(call.messages):
        check_clean(m.content, f"messages[{i}].content")
        for t in m.tool_calls or ():
            check_clean(t.arguments, f"messages[{i}].tool_calls")
    check_clean(call.unit, "unit")
    check_clean(call.session, "session")
    check_clean(call.variables, "vars")
    check_clean(call.attributes, "attributes")
    check_clean(call.params, "params")


def _check_required_units(call: CallInput, required: frozenset[str]) -> None:
    """`require_unit` in rampway.yaml: a request without the unit(s) its feature's rollouts and
    experiments stick to is refused, instead of being randomised on its own."""
    if "user" in required and not call.unit:
        raise RequestError(
            f"feature {call.feature!r} requires a unit: set 'user' or X-Rampway-Unit",
            param="user",
        )
    if "session" in required and not call.session:
        raise RequestError(
            f"feature {call.feature!r} requires a session: set X-Rampway-Session or "
            "metadata.session_id", param="metadata.session_id",
        )


def build_request(resolution: Resolution, call: CallInput) -> ChatRequest:
    """The upstream request: the release's model/params/tools, the app's params where unset."""
    release = resolution.release
    if resolution.feature.mode_for(release) == "passthrough":
        messages = list(call.messages)
    else:
        messages = managed_messages(resolution, call)
    request = release.base_request(messages)
    request.stream = call.stream
    params = call.params
    if params:
        _apply_app_params(request, params)
        if "tools" in params or "tool_choice" in params:
            _apply_app_tools(request, resolution, params)
    if resolution.overrides is not None:
        apply_overrides(request, resolution.overrides)
    return request


def apply_overrides(request: ChatRequest, overrides: Overrides) -> None:
    """A resolution step's model override and max_tokens cap (after the app's own params)."""
    if overrides.targets:
        request.model = overrides.targets[0][1]
    cap = overrides.max_tokens
    if cap is not None:
        request.max_tokens = cap if request.max_tokens is None else min(request.max_tokens, cap)


def fallback_text(record: CallRecord) -> str | None:
    res = record.resolution
    return None if res is None or res.overrides is None else res.overrides.fallback


def answer_locally(record: CallRecord, text: str) -> ChatResponse:
    """The resolution's own answer as a response, recorded as served by `rampway/fallback`."""
    record.provider, record.model = "rampway", "fallback"
    record.content, record.finish_reason = text, "stop"
    return ChatResponse(
        id=record.call.request_id, model="fallback", content=text, finish_reason="stop",
        usage=Usage(), provider="rampway",
    )


def managed_messages(resolution: Resolution, call: CallInput) -> list[Message]:
    """Release templates around the app's conversation.

    The release supplies the system prompt and few-shot turns (app system messages are dropped);
    the app's last user message becomes the template's `input`; earlier turns are kept as
    history and later ones (assistant tool calls, tool results) follow the rendered user turn.
    """
    convo = [m for m in call.messages if m.role != "system"]
    last_user = max((i for i, m in enumerate(convo) if m.role == "user"), default=None)
    try:
        if last_user is None:
            return resolution.release.render(call.variables) + convo
        rendered = resolution.release.render(call.variables, convo[last_user].content or "")
    except ReleaseError as exc:  # a missing variable is the caller's mistake
        raise RequestError(exc.message, param="rampway.vars") from exc
    return rendered[:-1] + convo[:last_user] + rendered[-1:] + convo[last_user + 1 :]


def check_params(params: dict[str, Any], targets: list[Target],
                 kind_of: Callable[[str], str]) -> None:
    """400 naming the first parameter the app sent that a target's provider cannot honour
    (every target: a fallback must not silently drop what the primary honoured)."""
    for target in targets:
        try:
            kind = kind_of(target.provider)
        except RampwayError:
            continue  # an unroutable target is the router's business (it is skipped)
        lacking = unsupported(kind, params)
        if lacking:
            name = lacking[0]
            raise RequestError(
                f"'{name}' cannot be honoured by provider {target.provider!r} ({kind}), which "
                f"serves {target.model}; remove it or route the feature elsewhere", param=name)


def _apply_app_params(request: ChatRequest, params: dict[str, Any]) -> None:
    """The app's values where the release set none; the release's own values win.
    Tools follow the release's `tools_from_app` rule instead (`_apply_app_tools`)."""
    for name, value in params.items():
        if name in _TOOL_PARAMS:
            continue
        if name in EXTRA_PARAMS:
            request.extra.setdefault(name, value)
        elif getattr(request, name) is None:
            setattr(request, name, value)


_TOOL_PARAMS = frozenset({"tools", "tool_choice"})


def _apply_app_tools(request: ChatRequest, resolution: Resolution,
                     params: dict[str, Any]) -> None:
    """Merge, replace or refuse the app's tools by the release's rule (`app_tools`)."""
    release = resolution.release
    owns = bool(release.spec.tools) or resolution.feature.mode_for(release) == "managed"
    request.tools, request.tool_choice = combine_tools(
        release.spec.tools_from_app, release.id if owns else None, request.tools,
        params.get("tools"), params.get("tool_choice"))


def targets_of(record: CallRecord) -> list[Target]:
    assert record.resolution is not None  # prepare() sets it
    overrides = record.resolution.overrides
    if overrides is not None and overrides.targets:
        return [Target(p, m) for p, m in overrides.targets]
    return [Target(p, m) for p, m in record.resolution.release.models]


def _feature(record: CallRecord) -> str | None:
    return None if record.resolution is None else record.resolution.feature.name


def _req(record: CallRecord) -> ChatRequest:
    assert record.request is not None  # prepare() sets it
    return record.request


def fail(record: CallRecord, exc: RampwayError, elapsed: float) -> None:
    public = _public(exc)
    record.status = "error"
    record.http_status = public.http_status
    record.error_code = public.code
    record.error_message = public.message
    record.latency_s = elapsed
    attempts = getattr(exc, "attempts", None) or []
    if attempts and not record.attempts:
        record.attempts = len(attempts)


def _public(exc: RampwayError) -> RampwayError:
    """Configuration problems found while routing are the operator's, not the caller's."""
    if isinstance(exc, ConfigError) and not isinstance(exc, ProviderError):
        return ServingError(exc.message)
    return exc


def _fill_stream(record: CallRecord, routed: RoutedStream | None) -> None:
    if routed is None:
        return
    record.attempts = len(routed.attempts)
    if routed.served_by is not None:
        record.provider, record.model = routed.served_by.provider, routed.served_by.model
    record.fallback_used = routed.fallback_used
    if routed.usage is not None:
        record.usage = routed.usage
    record.cost_usd = routed.cost_usd


class _Accumulator:
    """Collects streamed text, refusal, tool calls and finish reason for the record."""

    __slots__ = ("finish", "fingerprint", "refusal", "served", "text", "tools")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, ToolCall] = {}
        self.finish: str | None = None
        self.served: str | None = None
        self.fingerprint: str | None = None

    def add(self, chunk: StreamChunk) -> None:
        if self.served is None and chunk.model:
            self.served = chunk.model[:200]
        if self.fingerprint is None and chunk.system_fingerprint:
            self.fingerprint = chunk.system_fingerprint
        if chunk.content:
            self.text.append(chunk.content)
        if chunk.refusal:
            self.refusal.append(chunk.refusal)
        for delta in chunk.tool_calls or ():
            call = self.tools.get(delta.index)
            if call is None:
                call = self.tools[delta.index] = ToolCall(delta.id or "", delta.name or "", "")
            call.arguments += delta.arguments
            if delta.name and not call.name:
                call.name = delta.name
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason

    def fill(self, record: CallRecord) -> None:
        record.content = "".join(self.text) or None
        record.refusal = "".join(self.refusal) or None
        record.tool_calls = [self.tools[i] for i in sorted(self.tools)] or None
        record.finish_reason = self.finish
        record.served_model, record.system_fingerprint = self.served, self.fingerprint


__all__ = [
    "CallStream",
    "Pipeline",
    "answer_locally",
    "apply_overrides",
    "build_request",
    "managed_messages",
]
