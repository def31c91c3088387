"""`AsyncClient`: the gateway's resolution, routing and event path, in-process.

Same `Runtime` and `Pipeline` as `rampway serve`: the release comes from the store's channels
(reloaded within ~0.5 s of a rollback), calls go through the router with fallbacks, and every
call lands in the event log and the metrics — only the HTTP hop is gone.

Example:
    async with rampway.AsyncClient("path/to/project") as client:
        out = await client.complete("support-bot", input="Where is my order?", unit="user-42",
                                    vars={"customer_name": "Ada"})
        out.content, out.release_id, out.request_id
        out.flags["support-bot.model"].value     # the flags evaluated for the call (if any)
        await client.feedback("thumbs_up", 1, request_id=out.request_id)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rampway.config import Project, load_project
from rampway.errors import Overloaded, RequestError
from rampway.gateway import _openai
from rampway.gateway._common import check_attributes
from rampway.gateway.call import CallInput, CallRecord
from rampway.gateway.feedback import parse_feedback
from rampway.gateway.hooks import Hook
from rampway.gateway.pipeline import CallStream
from rampway.gateway.resolve import Resolver
from rampway.gateway.runtime import Runtime
from rampway.providers.registry import ProviderRegistry
from rampway.providers.types import ChatResponse, Message, StreamChunk, ToolCall, Usage
from rampway.store import Store

if TYPE_CHECKING:
    from rampway.flags import Evaluation

MessagesArg = Sequence[Message | Mapping[str, Any]] | None
_NO_FLAGS: Mapping[str, Evaluation] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Completion:
    """The answer to one call, with what rampway knows about how it was served.

    `flags`: the flags evaluated to serve it (flag key → `rampway.flags.Evaluation`: value,
    reason, rule_index, variant), the same the event log records; empty when none were.
    """

    request_id: str
    feature: str
    release_id: str
    arm: str
    content: str | None
    tool_calls: list[ToolCall] | None
    refusal: str | None
    finish_reason: str | None
    usage: Usage
    cost_usd: float
    provider: str | None
    model: str | None
    latency_s: float
    fallback_used: bool
    flags: Mapping[str, Evaluation] = field(default_factory=lambda: _NO_FLAGS)

    @classmethod
    def from_record(cls, record: CallRecord) -> Completion:
        res = record.resolution
        assert res is not None  # only served records become completions
        return cls(
            request_id=record.call.request_id,
            feature=res.feature.name,
            release_id=res.release.id,
            arm=res.arm,
            content=record.content,
            tool_calls=record.tool_calls,
            refusal=record.refusal,
            finish_reason=record.finish_reason,
            usage=record.usage,
            cost_usd=record.cost_usd,
            provider=record.provider,
            model=record.model,
            latency_s=record.latency_s,
            fallback_used=record.fallback_used,
            # read-only view: the same mapping is queued for the event log
            flags=_NO_FLAGS if res.flags is None else MappingProxyType(res.flags),
        )


class CompletionStream:
    """Chunks of a streamed call; `completion` is set once the stream is exhausted.

    Resolution happens when iteration starts, so an unknown feature raises from the first
    `async for` step; `request_id` is known at once.
    """

    def __init__(self, client: AsyncClient, call: CallInput) -> None:
        self._client = client
        self._call = call
        self._stream: CallStream | None = None
        self.completion: Completion | None = None

    @property
    def request_id(self) -> str:
        return self._call.request_id

    @property
    def release_id(self) -> str | None:
        res = None if self._stream is None else self._stream.record.resolution
        return None if res is None else res.release.id

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamChunk]:
        await self._client._ensure_started()
        self._stream = self._client._pipeline.stream(self._call)
        async for chunk in self._stream:
            yield chunk
        self.completion = Completion.from_record(self._stream.record)

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()


class AsyncClient:
    """In-process rampway client. Start it (or use `async with`) before calling."""

    def __init__(
        self,
        project: str | Path | Project | None = None,
        *,
        store: Store | None = None,
        providers: ProviderRegistry | Mapping[str, Any] | None = None,
        resolver: Resolver | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        proj = project if isinstance(project, Project) else load_project(_path(project))
        self.runtime = Runtime.from_project(
            proj, store=store, providers=providers, resolver=resolver, hooks=hooks
        )
        self._pipeline = self.runtime.pipeline

    async def start(self) -> AsyncClient:
        await self.runtime.start()
        return self

    async def aclose(self) -> None:
        """Stop watching for control changes and write every pending event."""
        await self.runtime.stop()

    async def __aenter__(self) -> AsyncClient:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def features(self) -> list[str]:
        return sorted(self.runtime.watcher.snapshot.features)

    async def complete(
        self,
        feature: str,
        messages: MessagesArg = None,
        *,
        input: str | None = None,
        vars: Mapping[str, Any] | None = None,
        unit: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        session: str | None = None,
        **params: Any,
    ) -> Completion:
        """One call. `params` are OpenAI-style (temperature, max_tokens, tools, …); `unit` is
        the user unit, `session` the session id (what `unit: session` allocations hash)."""
        await self._ensure_started()
        call = self._call(feature, messages, input, vars, unit, attributes, params, stream=False,
                          session=session)
        record, _response = await self._pipeline.complete(call)
        return Completion.from_record(record)

    async def raw(self, feature: str, messages: MessagesArg = None, **kw: Any) -> ChatResponse:
        """Like `complete` but returns the provider's normalized ChatResponse."""
        await self._ensure_started()
        call = self._call(feature, messages, kw.pop("input", None), kw.pop("vars", None),
                          kw.pop("unit", None), kw.pop("attributes", None), kw, stream=False,
                          session=kw.pop("session", None))
        _record, response = await self._pipeline.complete(call)
        return response

    def stream(
        self,
        feature: str,
        messages: MessagesArg = None,
        *,
        input: str | None = None,
        vars: Mapping[str, Any] | None = None,
        unit: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        session: str | None = None,
        **params: Any,
    ) -> CompletionStream:
        """A streamed call: `async for chunk in client.stream(...)`."""
        call = self._call(feature, messages, input, vars, unit, attributes, params, stream=True,
                          session=session)
        return CompletionStream(self, call)

    async def feedback(
        self,
        name: str,
        value: float | bool,
        *,
        request_id: str | None = None,
        unit: str | None = None,
        feature: str | None = None,
        time: float | str | None = None,
        attributes: Mapping[str, Any] | None = None,
        session: str | None = None,
    ) -> str:
        """Record an outcome for a request, a unit or a session; returns the feedback id."""
        await self._ensure_started()
        body = {"name": name, "value": value, "request_id": request_id, "unit": unit,
                "session": session, "feature": feature, "time": time,
                "attributes": None if attributes is None else dict(attributes)}
        event = parse_feedback({k: v for k, v in body.items() if v is not None})
        if not self.runtime.writer.emit(event):
            raise Overloaded("event queue is full; retry the feedback later")
        return event.id

    # -- helpers ------------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if not self.runtime.started:
            await self.runtime.start()

    def _call(
        self,
        feature: str,
        messages: MessagesArg,
        input_text: str | None,
        variables: Mapping[str, Any] | None,
        unit: str | None,
        attributes: Mapping[str, Any] | None,
        params: dict[str, Any],
        *,
        stream: bool,
        session: str | None = None,
    ) -> CallInput:
        if not isinstance(feature, str) or not feature:
            raise RequestError("feature must be a non-empty string", param="feature")
        msgs = _messages(messages, input_text)
        unknown = set(params) - _PARAM_NAMES
        if unknown:
            raise RequestError(f"unknown parameter(s): {sorted(unknown)}", param=min(unknown))
        if session is not None and (not isinstance(session, str) or not session):
            raise RequestError("session must be a non-empty string", param="session")
        return CallInput(
            feature=feature,
            messages=msgs,
            variables=dict(variables or {}),
            unit=unit,
            attributes={} if attributes is None else check_attributes(dict(attributes),
                                                                      "attributes"),
            params=_openai.parse_params(params) if params else {},
            stream=stream,
            protocol="sdk",
            source="sdk",
            session=session,
        )


_PARAM_NAMES = frozenset({"temperature", "max_tokens", "max_completion_tokens", "top_p", "stop",
                          "seed", "tools", "tool_choice", "response_format"})


def _messages(messages: MessagesArg, input_text: str | None) -> list[Message]:
    out: list[Message] = []
    if messages:
        dicts = [m for m in messages if not isinstance(m, Message)]
        if dicts and len(dicts) != len(messages):
            raise RequestError("pass all Message objects or all dicts", param="messages")
        out = (_openai.parse_messages([dict(m) for m in dicts]) if dicts
               else [m for m in messages if isinstance(m, Message)])
    if input_text is not None:
        out.append(Message("user", input_text))
    if not out:
        raise RequestError("give `messages` or `input`", param="messages")
    return out


def _path(project: str | Path | None) -> Path | None:
    return None if project is None else Path(project)


__all__ = ["AsyncClient", "Completion", "CompletionStream"]
