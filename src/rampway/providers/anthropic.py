"""Anthropic Messages API adapter (`POST {base_url}/v1/messages`).

Maps rampway's OpenAI-shaped request onto the Messages format and back:

    system messages            → the top-level `system` parameter
    assistant tool_calls       → `tool_use` content blocks (arguments parsed to an object)
    role "tool" messages       → `tool_result` blocks in a user turn (consecutive turns merged,
                                 since the API requires alternating roles)
    tools / tool_choice        → `input_schema` tools / {"type": auto|any|none|tool}
    response_format            → an instruction appended to `system` (no native JSON mode)
    stop_reason                → finish_reason (end_turn/stop_sequence→stop, max_tokens→length,
                                 tool_use→tool_calls, refusal→content_filter)
    usage                      → input = input + cache_read + cache_creation tokens,
                                 cached = cache_read_input_tokens (OpenAI's convention)

Example:
    provider = AnthropicProvider("anthropic", api_key=os.environ["ANTHROPIC_API_KEY"])
    resp = await provider.complete(request, timeout=30)
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from rampway.errors import ProviderBadRequest, ProviderError
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

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error `type` inside an SSE `error` event → the HTTP status it would have had.
_ERROR_STATUS = {
    "overloaded_error": 529,
    "api_error": 500,
    "rate_limit_error": 429,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "timeout_error": 504,
}


class AnthropicProvider:
    """Provider over the Anthropic Messages wire format."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        version: str = API_VERSION,
        default_max_tokens: int = 4096,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.default_max_tokens = default_max_tokens
        self._secret = api_key
        all_headers = {"content-type": "application/json", "anthropic-version": version}
        all_headers.update(headers or {})
        if api_key:
            all_headers["x-api-key"] = api_key
        self._upstream = _http.Upstream(
            name, self.base_url, all_headers, secret=api_key, max_connections=max_connections,
            connect_timeout=connect_timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        body = encode_request(request, stream=False, default_max_tokens=self.default_max_tokens)
        started = time.perf_counter()
        raw = await self._upstream.post("/v1/messages", body, model=request.model,
                                        timeout=timeout)
        try:
            response = decode_response(json.loads(raw), self.name)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._upstream.bad_payload(exc, request.model) from exc
        response.latency_s = time.perf_counter() - started
        return response

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        """Chunks as events arrive; a stream that ends before `message_delta` raises."""
        body = encode_request(request, stream=True, default_max_tokens=self.default_max_tokens)
        async with self._upstream.stream("/v1/messages", body, model=request.model,
                                         timeout=timeout) as resp:
            async for chunk in self._chunks(resp, request):
                yield chunk

    async def _chunks(
        self, resp: httpx.Response, request: ChatRequest
    ) -> AsyncIterator[StreamChunk]:
        upstream, model = self._upstream, request.model
        state = _StreamState()
        yielded = False
        try:
            async for event, data in _http.iter_sse(resp):
                try:
                    chunk = self._decode_event(event, data, state, request)
                except ProviderError as exc:
                    if yielded:
                        raise upstream.cut(model, exc.message) from exc
                    raise
                if chunk is not None:
                    yielded = True
                    yield chunk
                if state.stopped:
                    break
        except httpx.HTTPError as exc:
            if not yielded:
                raise upstream.transport_error(exc, model) from exc
            raise upstream.cut(model, type(exc).__name__) from exc
        if not state.finished:
            raise upstream.cut(model, "stream ended before message_delta/stop_reason")

    def _decode_event(
        self, event: str, data: str, state: _StreamState, request: ChatRequest
    ) -> StreamChunk | None:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise self._upstream.bad_payload(exc, request.model) from exc
        kind = payload.get("type", event) if isinstance(payload, dict) else event
        if kind == "error":
            err = payload.get("error") or {}
            status = _ERROR_STATUS.get(str(err.get("type")), 500)
            raise self._upstream.status_error(status, payload, {}, request.model)
        try:
            return state.apply(kind, payload)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise self._upstream.bad_payload(exc, request.model) from exc

    async def aclose(self) -> None:
        await self._upstream.aclose()


@dataclass(slots=True)
class _StreamState:
    """What a Messages SSE stream has told us so far; turns each event into a StreamChunk."""

    id: str | None = None
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    tool_index: dict[int, int] = field(default_factory=dict)  # content block → tool call index
    finished: bool = False
    stopped: bool = False

    def apply(self, kind: str, payload: dict[str, Any]) -> StreamChunk | None:
        if kind == "message_start":
            message = payload["message"]
            self.id, self.model = message.get("id"), message.get("model")
            self.usage = decode_usage(message.get("usage"))
            return None
        if kind == "content_block_start":
            return self._block_start(int(payload["index"]), payload["content_block"])
        if kind == "content_block_delta":
            return self._block_delta(int(payload["index"]), payload["delta"])
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            self.stopped = True
        return None  # ping, content_block_stop, unknown future events

    def _block_start(self, index: int, block: dict[str, Any]) -> StreamChunk | None:
        if block.get("type") == "tool_use":
            tool = self.tool_index.setdefault(index, len(self.tool_index))
            delta = ToolCallDelta(index=tool, id=block.get("id"), name=block.get("name"))
            return self._chunk(tool_calls=[delta])
        if block.get("type") == "text" and block.get("text"):
            return self._chunk(content=block["text"])
        return None

    def _block_delta(self, index: int, delta: dict[str, Any]) -> StreamChunk | None:
        kind = delta.get("type")
        if kind == "text_delta":
            return self._chunk(content=delta.get("text", ""))
        if kind == "input_json_delta" and index in self.tool_index:
            part = ToolCallDelta(
                index=self.tool_index[index], arguments=delta.get("partial_json", "")
            )
            return self._chunk(tool_calls=[part])
        return None  # thinking / signature deltas are not part of the normalized model

    def _message_delta(self, payload: dict[str, Any]) -> StreamChunk:
        reason = (payload.get("delta") or {}).get("stop_reason")
        usage = payload.get("usage") or {}
        if "input_tokens" in usage:  # newer API versions repeat the cumulative usage here
            self.usage = decode_usage(usage)
        elif "output_tokens" in usage:
            self.usage.output_tokens = int(usage["output_tokens"] or 0)
        finish = _STOP.get(reason, "stop") if reason else "stop"
        self.finished = True
        matched = (payload.get("delta") or {}).get("stop_sequence")
        return self._chunk(finish_reason=finish, usage=self.usage,
                           stop_sequence=matched if isinstance(matched, str) else None)

    def _chunk(self, **fields: Any) -> StreamChunk:
        return StreamChunk(id=self.id, model=self.model, **fields)


def encode_request(request: ChatRequest, *, stream: bool, default_max_tokens: int = 4096) -> bytes:
    """The Messages JSON body, built once; `request.extra` is merged last."""
    system = [m.content for m in request.messages if m.role == "system" and m.content]
    if request.response_format:
        system.append(_format_instruction(request.response_format))
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or default_max_tokens,
        "messages": _encode_messages(request.messages),
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.tools:
        body["tools"] = [_encode_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _encode_tool_choice(request.tool_choice)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if stream:
        body["stream"] = True
    if request.extra:
        body.update(request.extra)
    return json.dumps(body, separators=(",", ":")).encode()


def _encode_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Alternating user/assistant turns of content blocks; consecutive same-role turns merge."""
    turns: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "system":
            continue
        role = "assistant" if msg.role == "assistant" else "user"
        blocks = _blocks(msg)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(msg: Message) -> list[dict[str, Any]]:
    if msg.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": msg.tool_call_id or "",
                "content": msg.content or "",
            }
        ]
    blocks: list[dict[str, Any]] = []
    if msg.content:
        blocks.append({"type": "text", "text": msg.content})
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call)}
        for call in msg.tool_calls or ()
    )
    return blocks


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderBadRequest(
            f"tool call {call.id} ({call.name}): arguments must be a JSON object for Anthropic"
        )
    return value


def _encode_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    fn = tool.get("function", tool)
    out: dict[str, Any] = {
        "name": fn.get("name"),
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    return out


def _encode_tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        return {"type": {"required": "any"}.get(choice, choice)}
    name = (choice.get("function") or {}).get("name") or choice.get("name")
    if name:
        return {"type": "tool", "name": name}
    return dict(choice)


def _format_instruction(fmt: Mapping[str, Any]) -> str:
    schema = (fmt.get("json_schema") or {}).get("schema")
    if fmt.get("type") == "json_schema" and schema is not None:
        return (
            "Respond with a single JSON object that conforms to this JSON schema, and nothing "
            "else:\n" + json.dumps(schema, separators=(",", ":"))
        )
    if fmt.get("type") in ("json_object", "json_schema"):
        return "Respond with a single JSON object and nothing else."
    return ""


def decode_response(data: dict[str, Any], provider: str) -> ChatResponse:
    """A Messages `message` object → ChatResponse."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in data.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                ToolCall(
                    id=str(block.get("id", "")),
                    name=str(block.get("name", "")),
                    arguments=json.dumps(block.get("input") or {}),
                )
            )
    reason = data.get("stop_reason")
    finish = _STOP.get(reason, "stop") if reason else "stop"
    content = "".join(texts) if texts else None
    return ChatResponse(
        id=str(data.get("id", "")),
        model=str(data.get("model", "")),
        content=content,
        finish_reason=finish,
        usage=decode_usage(data.get("usage")),
        tool_calls=calls or None,
        refusal=(content or "refused") if reason == "refusal" else None,
        provider=provider,
        stop_sequence=data.get("stop_sequence") if reason == "stop_sequence" else None,
    )


def decode_usage(usage: Mapping[str, Any] | None) -> Usage:
    if not usage:
        return Usage()
    cached = int(usage.get("cache_read_input_tokens") or 0)
    created = int(usage.get("cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0) + cached + created,
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=cached,
    )


__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "AnthropicProvider",
    "decode_response",
    "encode_request",
]
