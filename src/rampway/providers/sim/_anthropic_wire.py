"""Anthropic Messages wire format: parse a request body, render messages, stream events, errors.

Mapping to the normalized model: `system` (string or text blocks) becomes a system message;
`tool_use` blocks become assistant tool calls; `tool_result` blocks become `tool` messages;
tools (`input_schema`) become OpenAI function tools; `output_config.format` / `output_format`
(structured outputs) becomes a strict json_schema response_format. Usage reports `input_tokens`
*excluding* cache reads, as Anthropic does: normalized input = input_tokens +
cache_read_input_tokens. Anthropic's default temperature is 1, so omit-temperature requests
sample freshly; pass `temperature: 0` (older API / extra_body) for deterministic answers.
"""

from __future__ import annotations

import json
from typing import Any

from rampway.providers.sim import _tokens
from rampway.providers.sim._engine import Choice
from rampway.providers.sim._runtime import SimPlan
from rampway.providers.sim._wire import WireError, opt_int, opt_number, require_dict, stop_list
from rampway.providers.types import ChatRequest, Message, ToolCall, Usage

_STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _block_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content
                       if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _user_messages(content: list[Any], i: int) -> list[Message]:
    out: list[Message] = []
    texts: list[str] = []
    for j, raw in enumerate(content):
        block = require_dict(raw, f"messages.{i}.content.{j}")
        if block.get("type") == "tool_result":
            out.append(Message("tool", _block_text(block), tool_call_id=block.get("tool_use_id")))
        elif block.get("type") == "text":
            texts.append(str(block.get("text", "")))
    if texts:
        out.append(Message("user", "\n".join(texts)))
    return out


def _assistant_message(content: list[Any], i: int) -> Message:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for j, raw in enumerate(content):
        block = require_dict(raw, f"messages.{i}.content.{j}")
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append(ToolCall(str(block.get("id", "")), str(block.get("name", "")),
                                  json.dumps(block.get("input") or {})))
    return Message("assistant", "".join(texts) or None, calls or None)


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise WireError("messages: at least one message is required", param="messages")
    out: list[Message] = []
    for i, item in enumerate(raw):
        msg = require_dict(item, f"messages.{i}")
        role, content = msg.get("role"), msg.get("content")
        if role not in ("user", "assistant"):
            raise WireError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if isinstance(content, str):
            out.append(Message(role, content))
        elif isinstance(content, list):
            out.extend(_user_messages(content, i) if role == "user"
                       else [_assistant_message(content, i)])
        else:
            raise WireError(f"messages.{i}.content: Input should be a string or a list of blocks")
    return out


def _system(raw: Any) -> list[Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [Message("system", raw)]
    if isinstance(raw, list):
        return [Message("system", "".join(b.get("text", "") for b in raw if isinstance(b, dict)))]
    raise WireError("system: Input should be a string or a list of text blocks")


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise WireError("tools: Input should be a list")
    out = []
    for i, item in enumerate(raw):
        tool = require_dict(item, f"tools.{i}")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise WireError(f"tools.{i}.name: Field required")
        out.append({"type": "function", "function": {
            "name": tool["name"], "description": tool.get("description", ""),
            "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}})
    return out or None


def _tool_choice(raw: Any) -> str | dict[str, Any] | None:
    if raw is None:
        return None
    choice = require_dict(raw, "tool_choice")
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind in ("auto", "none"):
        return str(kind)
    if kind == "any":
        return "required"
    raise WireError(f"tool_choice.type: unknown value {kind!r}")


def parse_request(body: Any) -> ChatRequest:
    body = require_dict(body, "body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("model: Field required")
    max_tokens = opt_int(body, "max_tokens", 1)
    if max_tokens is None:
        raise WireError("max_tokens: Field required")
    output_format = body.get("output_format")
    output_config = body.get("output_config")
    if isinstance(output_config, dict) and isinstance(output_config.get("format"), dict):
        output_format = output_config["format"]
    response_format = None
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        response_format = {"type": "json_schema", "json_schema": {
            "name": "output", "schema": output_format.get("schema") or {}, "strict": True}}
    choice = body.get("tool_choice") or {}
    return ChatRequest(
        model=model,
        messages=_system(body.get("system")) + _messages(body.get("messages")),
        temperature=opt_number(body, "temperature", 0, 1),
        max_tokens=max_tokens,
        top_p=opt_number(body, "top_p", 0, 1),
        stop=stop_list(body.get("stop_sequences"), "stop_sequences"),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        response_format=response_format,
        stream=bool(body.get("stream")),
        extra={"parallel_tool_calls": not (isinstance(choice, dict)
                                           and choice.get("disable_parallel_tool_use"))},
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    return {"input_tokens": usage.input_tokens - usage.cached_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage.cached_tokens}


def _blocks(choice: Choice) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = choice.refusal if choice.refusal is not None else choice.content
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.extend({"type": "tool_use", "id": "toolu_" + call.id.removeprefix("call_"),
                   "name": call.name, "input": json.loads(call.arguments or "{}")}
                  for call in choice.tool_calls or [])
    return blocks


def stop_reason(choice: Choice) -> str:
    if choice.refusal is not None:
        return "refusal"
    if choice.stop_sequence is not None:
        return "stop_sequence"
    return _STOP_REASONS.get(choice.finish_reason, "end_turn")


def message_body(plan: SimPlan) -> dict[str, Any]:
    choice = plan.choices[0]
    return {"id": f"msg_{plan.id}", "type": "message", "role": "assistant",
            "model": plan.reported_model, "content": _blocks(choice),
            "stop_reason": stop_reason(choice),
            "stop_sequence": choice.stop_sequence, "usage": usage_body(plan.usage)}


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    start: dict[str, Any]
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _tokens.pieces(block["text"])]
    else:
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p}
                  for p in _tokens.pieces(json.dumps(block["input"]))]
    return [("content_block_start", {"type": "content_block_start", "index": index,
                                     "content_block": start}),
            *[("content_block_delta", {"type": "content_block_delta", "index": index,
                                       "delta": d}) for d in deltas],
            ("content_block_stop", {"type": "content_block_stop", "index": index})]


def stream_events(plan: SimPlan) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) for a streamed message, message_start … message_stop."""
    choice = plan.choices[0]
    start_usage = {**usage_body(plan.usage), "output_tokens": 1}
    message = {**message_body(plan), "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": start_usage}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("ping", {"type": "ping"}),
    ]
    for i, block in enumerate(_blocks(choice)):
        events.extend(_block_events(i, block))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason(choice), "stop_sequence": choice.stop_sequence},
        "usage": {"output_tokens": plan.usage.output_tokens}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"),
                                       "message": message}}


__all__ = ["error_body", "message_body", "parse_request", "sse", "stop_reason", "stream_events",
           "usage_body"]
