"""OpenAI Chat Completions adapter for any compatible `base_url`.

Speaks to OpenAI, vLLM, Ollama (`/v1`), llama.cpp's server, llama-cpp-python's server and the
rampway simulator. Hot-path choices: the request body is encoded once with `json.dumps`, the
response is read with `json.loads` into plain dicts and mapped straight onto the slotted types
(no pydantic), and one pooled `httpx.AsyncClient` lives as long as the provider.

Example:
    provider = OpenAICompatProvider("sim", base_url=srv.base_url + "/v1")
    resp = await provider.complete(ChatRequest("sim-large", [Message("user", "hi")]), timeout=5)
    async for chunk in provider.stream(request, timeout=5): ...
    await provider.aclose()
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from rampway.errors import ProviderError
from rampway.providers import _http
from rampway.providers.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}
_OPTIONAL = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "user",
)


class OpenAICompatProvider:
    """Provider over the OpenAI `/chat/completions` wire format."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._secret = api_key
        all_headers = {"content-type": "application/json", "accept": "application/json"}
        all_headers.update(headers or {})
        if api_key:
            all_headers["authorization"] = f"Bearer {api_key}"
        self._upstream = _http.Upstream(
            name, self.base_url, all_headers, secret=api_key, max_connections=max_connections,
            connect_timeout=connect_timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        body = encode_request(request, stream=False)
        started = time.perf_counter()
        raw = await self._upstream.post("/chat/completions", body, model=request.model,
                                        timeout=timeout)
        try:
            response = decode_response(json.loads(raw), self.name)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise self._upstream.bad_payload(exc, request.model) from exc
        response.latency_s = time.perf_counter() - started
        return response

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        """Chunks as they arrive; a stream that ends without a finish_reason raises."""
        body = encode_request(request, stream=True)
        async with self._upstream.stream("/chat/completions", body, model=request.model,
                                         timeout=timeout) as resp:
            async for chunk in self._chunks(resp, request):
                yield chunk

    async def _chunks(
        self, resp: httpx.Response, request: ChatRequest
    ) -> AsyncIterator[StreamChunk]:
        upstream, model = self._upstream, request.model
        finished = yielded = False
        try:
            async for _event, data in _http.iter_sse(resp):
                if data == "[DONE]":
                    break
                try:
                    chunk = self._decode_chunk(data, request)
                except ProviderError as exc:
                    if yielded:
                        raise upstream.cut(model, exc.message) from exc
                    raise
                finished = finished or chunk.finish_reason is not None
                yielded = True
                yield chunk
        except httpx.HTTPError as exc:
            if not yielded:
                raise upstream.transport_error(exc, model) from exc
            raise upstream.cut(model, f"{type(exc).__name__}") from exc
        if not finished:
            raise upstream.cut(model, "stream ended without a finish_reason")

    def _decode_chunk(self, data: str, request: ChatRequest) -> StreamChunk:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise self._upstream.bad_payload(exc, request.model) from exc
        if isinstance(payload, dict) and payload.get("error"):
            raise self._upstream.status_error(_error_status(payload), payload, {}, request.model)
        try:
            return decode_chunk(payload)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise self._upstream.bad_payload(exc, request.model) from exc

    async def aclose(self) -> None:
        await self._upstream.aclose()


def encode_request(request: ChatRequest, *, stream: bool) -> bytes:
    """The JSON body, built once. `request.extra` is merged last (provider-specific knobs)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_encode_message(m) for m in request.messages],
    }
    for key in _OPTIONAL:
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.extra:
        body.update(request.extra)
    return json.dumps(body, separators=(",", ":")).encode()


def _encode_message(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg.role, "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in msg.tool_calls
        ]
    if msg.tool_call_id is not None:
        out["tool_call_id"] = msg.tool_call_id
    if msg.name is not None:
        out["name"] = msg.name
    return out


def decode_response(data: dict[str, Any], provider: str) -> ChatResponse:
    """A `chat.completion` object → ChatResponse (first choice)."""
    choice = data["choices"][0]
    message = choice.get("message") or {}
    calls = message.get("tool_calls")
    return ChatResponse(
        id=str(data.get("id", "")),
        model=str(data.get("model", "")),
        content=message.get("content"),
        finish_reason=_finish(choice.get("finish_reason")) or "stop",
        usage=decode_usage(data.get("usage")),
        tool_calls=[_tool_call(c) for c in calls] if calls else None,
        refusal=message.get("refusal"),
        provider=provider,
        system_fingerprint=_text_or_none(data.get("system_fingerprint")),
        logprobs=choice.get("logprobs") if isinstance(choice.get("logprobs"), dict) else None,
    )


def _text_or_none(value: Any) -> str | None:
    """A provider-reported string kept for the event log (bounded; anything else is None)."""
    return value[:100] if isinstance(value, str) and value else None


def decode_chunk(data: dict[str, Any]) -> StreamChunk:
    """A `chat.completion.chunk` object → StreamChunk (first choice; usage-only chunks too)."""
    usage = data.get("usage")
    chunk = StreamChunk(
        usage=decode_usage(usage) if usage else None, model=data.get("model"), id=data.get("id"),
        system_fingerprint=_text_or_none(data.get("system_fingerprint")),
    )
    choices = data.get("choices")
    if choices:
        choice = choices[0]
        delta = choice.get("delta") or {}
        chunk.content = delta.get("content")
        chunk.refusal = delta.get("refusal")
        chunk.finish_reason = _finish(choice.get("finish_reason"))
        calls = delta.get("tool_calls")
        if calls:
            chunk.tool_calls = [_tool_delta(c) for c in calls]
    return chunk


def decode_usage(usage: dict[str, Any] | None) -> Usage:
    if not usage:
        return Usage()
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


def _finish(reason: str | None) -> FinishReason | None:
    if reason is None:
        return None
    return _FINISH.get(reason, "stop")


def _tool_call(call: dict[str, Any]) -> ToolCall:
    fn = call.get("function") or {}
    return ToolCall(
        id=str(call.get("id", "")),
        name=str(fn.get("name", "")),
        arguments=fn.get("arguments") or "{}",
    )


def _tool_delta(call: dict[str, Any]) -> ToolCallDelta:
    fn = call.get("function") or {}
    return ToolCallDelta(
        index=int(call.get("index", 0)),
        id=call.get("id"),
        name=fn.get("name"),
        arguments=fn.get("arguments") or "",
    )


def _error_status(payload: dict[str, Any]) -> int:
    """An error sent inside a 200 stream: use its numeric code if any, else treat as a 5xx."""
    err = payload.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    if isinstance(code, int) and 400 <= code < 600:
        return code
    return 500


__all__ = [
    "DEFAULT_BASE_URL",
    "OpenAICompatProvider",
    "decode_chunk",
    "decode_response",
    "encode_request",
]
