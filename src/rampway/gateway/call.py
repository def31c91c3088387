"""What an app asked for and what came of it, independent of the wire format.

The OpenAI and Anthropic parsers and the SDK all produce a `CallInput`; the pipeline turns it into
a `CallRecord` that hooks (metrics, event log, later shadow capture) consume.

Example:
    call = CallInput(feature="support-bot", messages=[Message("user", "Where is my order?")],
                     unit="user-42", session="s-7", variables={"customer_name": "Ada"})

`unit` and `session` are two units, both optional: a user id (sticky across that user's
conversations) and a session id (one conversation). Rollouts, experiments and flag splits
declared `unit: session` hash the session; the others hash the user unit.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rampway.providers.types import ChatRequest, Message, ToolCall, Usage

if TYPE_CHECKING:
    from rampway.gateway.resolve import Resolution

Protocol = Literal["openai", "anthropic", "responses", "sdk"]

#: Generation parameters an app may send. The release's own value wins when it sets one.
APP_PARAMS = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    # carried in ChatRequest.extra (rampway.providers.params.EXTRA_PARAMS)
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "top_k",  # Anthropic's; also llama.cpp's and vLLM's
)


def new_request_id() -> str:
    """A fresh, collision-free request id (it is the event log's primary key): 12 bytes in hex,
    the time in milliseconds (6 bytes) then 48 random bits.

    Ids in time order land at the end of each partition's unique index on `id`, whose pages
    then fill to PostgreSQL's 90%; wholly random ids split pages at random and left them ~64%
    full (63 vs 50 index bytes per request row, bench/event_size.py). Two ids can only collide
    within one millisecond: one chance in 2**48 per pair.

    Example: `req_01a252ea60e1` + 12 random hex digits (7 Dec 2026, 23:50:21.665 UTC).
    """
    ms = time.time_ns() // 1_000_000
    return "req_" + ms.to_bytes(6, "big").hex() + os.urandom(6).hex()


@dataclass(slots=True)
class CallInput:
    feature: str
    messages: list[Message]
    variables: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None  # the user unit (what `unit: user` allocations hash)
    attributes: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # keys from APP_PARAMS
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage
    protocol: Protocol = "openai"
    source: Literal["gateway", "sdk"] = "gateway"
    request_id: str = field(default_factory=new_request_id)
    app_key: str | None = None  # name of the app key that authenticated the call
    session: str | None = None  # the session id (what `unit: session` allocations hash)


@dataclass(slots=True)
class CallRecord:
    """Everything known about one call once it is over (successfully or not)."""

    call: CallInput
    started: float  # time.time() at entry
    resolution: Resolution | None = None
    request: ChatRequest | None = None
    status: Literal["ok", "error"] = "ok"
    http_status: int = 200
    error_code: str | None = None
    error_message: str | None = None
    provider: str | None = None
    model: str | None = None  # the model rampway asked for (target of the route)
    served_model: str | None = None  # the model the provider says answered
    system_fingerprint: str | None = None
    attempts: int = 0
    fallback_used: bool = False
    hedged: bool = False  # a hedged second request was sent
    hedge_won: bool = False  # ... and answered first (provider/model say which target)
    latency_s: float = 0.0
    ttft_s: float | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    finish_reason: str | None = None


__all__ = ["APP_PARAMS", "CallInput", "CallRecord", "Protocol", "new_request_id"]
