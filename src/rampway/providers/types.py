"""The normalized request/response model every provider adapter speaks.

Plain slotted dataclasses (not pydantic) because these objects sit on the request hot path;
validation happens once at the edges (release loading, gateway parsing).

Example:
    req = ChatRequest(model="sim-large", messages=[Message("user", "What is 2+2?")])
    resp = await provider.complete(req, timeout=10.0)
    resp.content, resp.usage.output_tokens, resp.finish_reason
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON document, exactly as the model produced it


@dataclass(slots=True)
class Message:
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None  # OpenAI function-tool JSON
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None  # OpenAI response_format JSON
    stream: bool = False
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific pass-through


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    content: str | None
    finish_reason: FinishReason
    usage: Usage
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    provider: str = ""
    latency_s: float = 0.0
    ttft_s: float | None = None
    # What the provider says answered (`model` is its name for the model, possibly a dated
    # snapshot behind the alias requested); the event log keeps both to notice an alias moving.
    system_fingerprint: str | None = None
    stop_sequence: str | None = None  # which of the request's `stop` strings ended the answer
    logprobs: dict[str, Any] | None = None  # OpenAI `choices[0].logprobs`, when asked for


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class StreamChunk:
    """One increment of a streamed answer.

    A stream ends with a chunk whose `finish_reason` is set; `usage` arrives on that chunk or on
    a later usage-only chunk. A stream that stops without a finish_reason was cut: adapters raise
    StreamInterrupted instead of ending quietly.
    """

    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    refusal: str | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    system_fingerprint: str | None = None
    stop_sequence: str | None = None  # on the finishing chunk, as on ChatResponse


@runtime_checkable
class Provider(Protocol):
    """One seam per external system: every wire format implements these two calls."""

    name: str

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse: ...

    def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]: ...

    async def aclose(self) -> None: ...


__all__ = [
    "ChatRequest",
    "ChatResponse",
    "FinishReason",
    "Message",
    "Provider",
    "Role",
    "StreamChunk",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]
