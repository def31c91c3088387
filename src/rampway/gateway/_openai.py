"""OpenAI Chat Completions wire format: request → CallInput, ChatResponse/StreamChunk → JSON/SSE.

Only what the normalized model can carry is accepted; anything else (n > 1, image parts, audio)
is refused with a 400 naming the field rather than silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rampway.errors import RampwayError, RequestError
from rampway.gateway import _common as c
from rampway.gateway.call import CallInput, CallRecord
from rampway.providers.types import ChatResponse, Message, StreamChunk, ToolCall

_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


def parse_request(body: Any, headers: Mapping[str, str]) -> CallInput:
    """Validate a /v1/chat/completions body (+ rampway headers) into a CallInput."""
    body = c.expect_object(body)
    feature = c.feature_of(body.get("model"))
    n = body.get("n")
    if n not in (None, 1):
        raise RequestError("only n=1 is supported", param="n")
    variables, ext_unit, ext_attrs = c.rampway_extension(body)
    metadata = body.get("metadata")
    unit = c.pick_unit(
        c.unit_header(headers),
        ext_unit,
        c.opt_str(body, "safety_identifier"),  # what current OpenAI docs recommend over `user`
        c.opt_str(body, "user"),
        c.metadata_unit(metadata),
        c.metadata_unit(body.get("litellm_metadata"), "litellm_metadata", ("user",)),
    )
    session = c.session_id(headers, body, metadata)
    attributes = c.header_attributes(headers.get("x-rampway-attributes"))
    if attributes is None:
        attributes = {} if metadata is None else c.check_attributes(metadata, "metadata")
    attributes = {**attributes, **ext_attrs}
    return CallInput(
        feature=feature,
        messages=parse_messages(body.get("messages")),
        variables=variables,
        unit=unit,
        attributes=attributes,
        params=parse_params(body),
        stream=c.opt_bool(body, "stream"),
        include_usage=_include_usage(body.get("stream_options")),
        protocol="openai",
        session=session,
    )


def _include_usage(raw: Any) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, dict):
        raise RequestError("'stream_options' must be an object", param="stream_options")
    return c.opt_bool(raw, "include_usage")


def parse_params(body: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "temperature": c.opt_number(body, "temperature", 0, 2),
        "top_p": c.opt_number(body, "top_p", 0, 1),
        "max_tokens": c.opt_int(body, "max_completion_tokens") or c.opt_int(body, "max_tokens"),
        "stop": c.opt_stop(body, "stop"),
        "seed": c.opt_int(body, "seed", lo=-(2**63)),
        "tools": _tools(body.get("tools")),
        "tool_choice": _tool_choice(body.get("tool_choice")),
        "response_format": _response_format(body.get("response_format")),
        "frequency_penalty": c.opt_number(body, "frequency_penalty", -2, 2),
        "presence_penalty": c.opt_number(body, "presence_penalty", -2, 2),
        "logit_bias": _logit_bias(body.get("logit_bias")),
        **_logprobs(body),
    }
    return {k: v for k, v in params.items() if v is not None}


def _logit_bias(raw: Any) -> dict[str, float] | None:
    """`{"<token id>": bias}` with biases in [-100, 100], as OpenAI takes it."""
    if raw is None or raw == {}:
        return None
    ok = isinstance(raw, dict) and all(
        isinstance(k, str) and k.isdigit() and isinstance(v, int | float)
        and not isinstance(v, bool) and -100 <= v <= 100
        for k, v in raw.items()
    )
    if not ok:
        raise RequestError("'logit_bias' must map token ids to numbers between -100 and 100",
                           param="logit_bias")
    return dict(raw)


def _logprobs(body: Mapping[str, Any]) -> dict[str, Any]:
    """`logprobs` (only when true) and `top_logprobs` (0-20, needs logprobs)."""
    wanted = c.opt_bool(body, "logprobs")
    top = c.opt_int(body, "top_logprobs", lo=0)
    if top is not None and top > 20:
        raise RequestError("'top_logprobs' must be an integer between 0 and 20",
                           param="top_logprobs")
    if top is not None and not wanted:
        raise RequestError("'top_logprobs' needs 'logprobs': true", param="top_logprobs")
    if wanted and c.opt_bool(body, "stream"):
        raise RequestError("'logprobs' is not supported with stream: true", param="logprobs")
    return {"logprobs": True if wanted else None, "top_logprobs": top}


def parse_messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise RequestError("'messages' must be a non-empty list", param="messages")
    return [_message(item, i) for i, item in enumerate(raw)]


def _message(item: Any, i: int) -> Message:
    where = f"messages[{i}]"
    if not isinstance(item, dict):
        raise RequestError(f"{where} must be an object", param=where)
    raw_role = item.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise RequestError(f"{where}.role must be one of {sorted(_ROLES)}", param=f"{where}.role")
    content = _content(item.get("content"), where)
    tool_calls = _tool_calls(item.get("tool_calls"), where) if role == "assistant" else None
    tool_call_id = item.get("tool_call_id")
    if role == "tool" and not isinstance(tool_call_id, str):
        raise RequestError(f"{where}.tool_call_id is required for role 'tool'", param=where)
    if content is None and not tool_calls:
        raise RequestError(f"{where}.content is required", param=f"{where}.content")
    name = item.get("name")
    return Message(
        role=role,  # type: ignore[arg-type]
        content=content,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id if role == "tool" else None,
        name=name if isinstance(name, str) else None,
    )


def _content(raw: Any, where: str) -> str | None:
    """A string, or a list of text parts (joined); other part types are not supported."""
    if raw is None or isinstance(raw, str):
        return raw
    if not isinstance(raw, list):
        raise RequestError(f"{where}.content must be a string or a list of parts", param=where)
    texts = []
    for part in raw:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise RequestError(f"{where}.content: only text parts are supported", param=where)
        text = part.get("text")
        if not isinstance(text, str):
            raise RequestError(f"{where}.content: text part needs a string 'text'", param=where)
        texts.append(text)
    return "".join(texts)


def _tool_calls(raw: Any, where: str) -> list[ToolCall] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise RequestError(f"{where}.tool_calls must be a list", param=where)
    calls = []
    for call in raw:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(call.get("id"), str):
            raise RequestError(f"{where}.tool_calls: each needs 'id' and 'function'", param=where)
        name, arguments = fn.get("name"), fn.get("arguments", "")
        if not isinstance(name, str) or not isinstance(arguments, str):
            raise RequestError(f"{where}.tool_calls: function name/arguments", param=where)
        calls.append(ToolCall(id=call["id"], name=name, arguments=arguments))
    return calls or None


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    ok = isinstance(raw, list) and all(
        isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        for t in raw
    )
    if not ok:
        raise RequestError("'tools' must be a list of function tools", param="tools")
    return raw or None


def _tool_choice(raw: Any) -> str | dict[str, Any] | None:
    if raw is None or raw in ("auto", "none", "required"):
        return raw  # type: ignore[no-any-return]
    if isinstance(raw, dict) and raw.get("type") == "function":
        return raw
    raise RequestError(
        "'tool_choice' must be auto, none, required or a function", param="tool_choice"
    )


def _response_format(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in ("text", "json_object", "json_schema"):
        raise RequestError(
            "'response_format.type' must be text, json_object or json_schema",
            param="response_format",
        )
    return None if raw["type"] == "text" else raw


# -- responses ------------------------------------------------------------------------------------


def _tool_calls_json(calls: list[ToolCall] | None) -> list[dict[str, Any]] | None:
    if not calls:
        return None
    return [
        {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
        for t in calls
    ]


def usage_json(record: CallRecord) -> dict[str, Any]:
    u = record.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def render_response(record: CallRecord, response: ChatResponse) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.content,
        "refusal": response.refusal,
    }
    tool_calls = _tool_calls_json(response.tool_calls)
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": record.call.request_id,
        "object": "chat.completion",
        "created": int(record.started),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": response.finish_reason,
                "logprobs": response.logprobs,
            }
        ],
        "usage": usage_json(record),
        "system_fingerprint": record.resolution.release.id if record.resolution else None,
    }


class StreamEncoder:
    """Turns StreamChunks into `data: …` SSE lines, the OpenAI way."""

    __slots__ = ("_base", "_include_usage", "_role_sent")

    def __init__(self, record: CallRecord, model: str, include_usage: bool) -> None:
        self._base = {
            "id": record.call.request_id,
            "object": "chat.completion.chunk",
            "created": int(record.started),
            "model": model,
        }
        self._include_usage = include_usage
        self._role_sent = False

    def chunk(self, chunk: StreamChunk) -> bytes:
        delta: dict[str, Any] = {}
        if not self._role_sent:
            delta["role"] = "assistant"
            self._role_sent = True
        if chunk.content is not None:
            delta["content"] = chunk.content
        if chunk.refusal is not None:
            delta["refusal"] = chunk.refusal
        if chunk.tool_calls:
            delta["tool_calls"] = [
                {
                    "index": t.index,
                    **({"id": t.id, "type": "function"} if t.id else {}),
                    "function": {
                        k: v
                        for k, v in (("name", t.name), ("arguments", t.arguments))
                        if v is not None
                    },
                }
                for t in chunk.tool_calls
            ]
        if not delta and chunk.finish_reason is None:
            return b""
        choice = {
            "index": 0,
            "delta": delta,
            "finish_reason": chunk.finish_reason,
            "logprobs": None,
        }
        return _sse({**self._base, "choices": [choice]})

    def end(self, record: CallRecord) -> bytes:
        tail = b""
        if self._include_usage:
            tail = _sse({**self._base, "choices": [], "usage": usage_json(record)})
        return tail + b"data: [DONE]\n\n"


def error_json(exc: RampwayError) -> dict[str, Any]:
    """The OpenAI error body: `{"error": {"message", "type", "param", "code"}}`."""
    return {
        "error": {
            "message": exc.message,
            "type": error_type(exc),
            "param": getattr(exc, "param", None),
            "code": exc.code,
        }
    }


def error_type(exc: RampwayError) -> str:
    status = exc.http_status
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status < 500:
        return "invalid_request_error"
    return "api_error"


def stream_error(exc: RampwayError) -> bytes:
    """An error after the stream started: an SSE event the OpenAI SDK raises as APIError."""
    return _sse(error_json(exc))


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


__all__ = [
    "StreamEncoder",
    "error_json",
    "error_type",
    "parse_request",
    "render_response",
    "stream_error",
]
