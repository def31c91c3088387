"""OpenAI Chat Completions wire format: parse a request body, render answers, chunks, errors.

Pure functions over plain dicts; the server does the I/O. Streams follow the API: a first chunk
with `role`, content/tool-call/refusal deltas, a chunk with `finish_reason`, then (with
`stream_options.include_usage`) a usage chunk with empty `choices`, then `data: [DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rampway.providers.sim import _tokens
from rampway.providers.sim._engine import Choice
from rampway.providers.sim._runtime import SimPlan
from rampway.providers.sim._wire import WireError, opt_int, opt_number, require_dict, stop_list
from rampway.providers.types import ChatRequest, Message, Role, ToolCall, Usage

_ROLES: dict[str, Role] = {"system": "system", "developer": "system", "user": "user",
                           "assistant": "assistant", "tool": "tool"}


def _text(content: Any, param: str) -> str | None:
    """String content, or the text parts of a content-part list joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
    raise WireError(f"'{param}' must be a string or a list of content parts", param=param)


def _tool_calls(raw: Any, param: str) -> list[ToolCall] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise WireError(f"'{param}' must be a list", param=param)
    calls = []
    for i, tc in enumerate(raw):
        fn = require_dict(require_dict(tc, f"{param}.{i}").get("function"),
                          f"{param}.{i}.function")
        calls.append(ToolCall(str(tc.get("id", "")), str(fn.get("name", "")),
                              str(fn.get("arguments", ""))))
    return calls


def parse_message(raw: Any, i: int) -> Message:
    msg = require_dict(raw, f"messages.{i}")
    role = _ROLES.get(str(msg.get("role")))
    if role is None:
        raise WireError(f"Invalid value for 'messages[{i}].role': {msg.get('role')!r}",
                        param=f"messages.[{i}].role")
    if role == "tool" and not msg.get("tool_call_id"):
        raise WireError(f"'messages[{i}].tool_call_id' is required for tool messages",
                        param=f"messages.[{i}].tool_call_id")
    return Message(role, _text(msg.get("content"), f"messages.[{i}].content"),
                   _tool_calls(msg.get("tool_calls"), f"messages.[{i}].tool_calls"),
                   msg.get("tool_call_id"), msg.get("name"))


def _response_format(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    rf = require_dict(raw, "response_format")
    kind = rf.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise WireError(f"Invalid value for 'response_format.type': {kind!r}",
                        param="response_format.type")
    if kind == "json_schema":
        spec = require_dict(rf.get("json_schema"), "response_format.json_schema")
        if not isinstance(spec.get("name"), str):
            raise WireError("Missing required parameter: 'response_format.json_schema.name'.",
                            param="response_format.json_schema.name")
        if spec.get("schema") is not None:
            require_dict(spec["schema"], "response_format.json_schema.schema")
    return rf


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise WireError("'tools' must be a list", param="tools")
    for i, tool in enumerate(raw):
        fn = require_dict(require_dict(tool, f"tools.{i}").get("function"), f"tools.{i}.function")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise WireError(f"Missing required parameter: 'tools[{i}].function.name'.",
                            param=f"tools[{i}].function.name")
    return raw or None


def parse_request(body: Any) -> tuple[ChatRequest, int, bool]:
    """(normalized request, n, include_usage) from a JSON body, or WireError."""
    body = require_dict(body, "body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("you must provide a model parameter", param="model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise WireError("'messages' must be a non-empty list", param="messages")
    max_tokens = opt_int(body, "max_completion_tokens", 1) or opt_int(body, "max_tokens", 1)
    n = opt_int(body, "n", 1, 128) or 1
    stream_options = body.get("stream_options") or {}
    extra = {k: body[k] for k in ("parallel_tool_calls", "logprobs", "top_logprobs", "metadata")
             if k in body}
    request = ChatRequest(
        model=model,
        messages=[parse_message(m, i) for i, m in enumerate(raw_messages)],
        temperature=opt_number(body, "temperature", 0, 2),
        max_tokens=max_tokens,
        top_p=opt_number(body, "top_p", 0, 1),
        stop=stop_list(body.get("stop"), "stop"),
        seed=opt_int(body, "seed", -(2**63)),
        tools=_tools(body.get("tools")),
        tool_choice=body.get("tool_choice"),
        response_format=_response_format(body.get("response_format")),
        stream=bool(body.get("stream")),
        user=body.get("user") if isinstance(body.get("user"), str) else None,
        extra=extra,
    )
    include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))
    return request, n, include_usage


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _tool_call_body(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def _message_body(choice: Choice) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": choice.content,
                           "refusal": choice.refusal, "annotations": []}
    if choice.tool_calls:
        msg["tool_calls"] = [_tool_call_body(c) for c in choice.tool_calls]
    return msg


def _logprobs(plan: SimPlan, choice: Choice) -> dict[str, Any] | None:
    if plan.top_logprobs is None or choice.content is None:
        return None
    return _tokens.logprobs(choice.content, plan.top_logprobs)


def completion_body(plan: SimPlan) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{plan.id}",
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.reported_model,
        "choices": [{"index": c.index, "message": _message_body(c),
                     "logprobs": _logprobs(plan, c), "finish_reason": c.finish_reason}
                    for c in plan.choices],
        "usage": usage_body(plan.usage),
        "service_tier": "default",
        "system_fingerprint": plan.profile.fingerprint,
    }


def _deltas(choice: Choice) -> Iterator[dict[str, Any]]:
    """Delta objects for one choice (after the role delta, before the finish)."""
    if choice.refusal is not None:
        for piece in _tokens.pieces(choice.refusal):
            yield {"refusal": piece}
    elif choice.tool_calls:
        for i, call in enumerate(choice.tool_calls):
            yield {"tool_calls": [{"index": i, "id": call.id, "type": "function",
                                   "function": {"name": call.name, "arguments": ""}}]}
            for piece in _tokens.pieces(call.arguments):
                yield {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
    else:
        for piece in _tokens.pieces(choice.content or ""):
            yield {"content": piece}


def stream_bodies(plan: SimPlan, include_usage: bool) -> list[dict[str, Any]]:
    """Every chunk of a streamed answer, in order (without the final [DONE])."""
    head = {"id": f"chatcmpl-{plan.id}", "object": "chat.completion.chunk",
            "created": plan.created, "model": plan.reported_model,
            "system_fingerprint": plan.profile.fingerprint}
    extra = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": index, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}], **extra}

    out = []
    for c in plan.choices:
        out.append(chunk(c.index, {"role": "assistant", "content": "", "refusal": None}))
        out.extend(chunk(c.index, d) for d in _deltas(c))
        out.append(chunk(c.index, {}, c.finish_reason))
    if include_usage:
        out.append({**head, "choices": [], "usage": usage_body(plan.usage)})
    return out


def sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def error_body(message: str, type_: str, *, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


__all__ = ["DONE", "completion_body", "error_body", "parse_request", "sse", "stream_bodies",
           "usage_body"]
