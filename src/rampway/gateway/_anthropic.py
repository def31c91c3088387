"""Anthropic Messages wire format on the same pipeline: request → CallInput, results → JSON/SSE.

Content blocks map onto the normalized messages: `tool_use` blocks become assistant tool calls,
`tool_result` blocks become `tool` messages, `system` becomes a leading system message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rampway.errors import RampwayError, RequestError
from rampway.gateway import _common as c
from rampway.gateway._openai import error_type
from rampway.gateway.call import CallInput, CallRecord
from rampway.providers.types import ChatResponse, Message, StreamChunk, ToolCall

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
}


def parse_request(body: Any, headers: Mapping[str, str]) -> CallInput:
    """Validate a /v1/messages body (+ rampway headers) into a CallInput."""
    body = c.expect_object(body)
    feature = c.feature_of(body.get("model"))
    variables, ext_unit, ext_attrs = c.rampway_extension(body)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RequestError("'metadata' must be an object", param="metadata")
    meta_unit = c.opt_str(metadata, "user_id") if metadata else None
    attributes = c.header_attributes(headers.get("x-rampway-attributes")) or {}
    messages = _system(body.get("system")) + parse_messages(body.get("messages"))
    return CallInput(
        feature=feature,
        messages=messages,
        variables=variables,
        unit=c.pick_unit(c.unit_header(headers), ext_unit, meta_unit),
        attributes={**attributes, **ext_attrs},
        params=parse_params(body),
        stream=c.opt_bool(body, "stream"),
        protocol="anthropic",
        session=c.session_id(headers, body, metadata),
    )


def parse_params(body: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "temperature": c.opt_number(body, "temperature", 0, 1),
        "top_p": c.opt_number(body, "top_p", 0, 1),
        "max_tokens": c.opt_int(body, "max_tokens"),
        "stop": c.opt_stop(body, "stop_sequences"),
        "top_k": c.opt_int(body, "top_k", lo=0),
        "tools": _tools(body.get("tools")),
        "tool_choice": _tool_choice(body.get("tool_choice")),
    }
    return {k: v for k, v in params.items() if v is not None}


def _system(raw: Any) -> list[Message]:
    if raw is None:
        return []
    text = raw if isinstance(raw, str) else _text_blocks(raw, "system")
    return [Message("system", text)]


def _text_blocks(raw: Any, where: str) -> str:
    if not isinstance(raw, list):
        raise RequestError(f"{where} must be a string or a list of text blocks", param=where)
    texts = []
    for block in raw:
        if not isinstance(block, dict) or block.get("type") != "text":
            raise RequestError(f"{where}: only text blocks are supported here", param=where)
        if not isinstance(block.get("text"), str):
            raise RequestError(f"{where}: text block needs a string 'text'", param=where)
        texts.append(block["text"])
    return "".join(texts)


def parse_messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise RequestError("'messages' must be a non-empty list", param="messages")
    out: list[Message] = []
    for i, item in enumerate(raw):
        out.extend(_message(item, f"messages[{i}]"))
    return out


def _message(item: Any, where: str) -> list[Message]:
    if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
        raise RequestError(f"{where} must be an object with role user or assistant", param=where)
    role = item["role"]
    content = item.get("content")
    if isinstance(content, str):
        return [Message(role, content)]
    if not isinstance(content, list) or not content:
        raise RequestError(f"{where}.content must be a string or a list of blocks", param=where)
    if role == "assistant":
        return [_assistant_blocks(content, where)]
    return _user_blocks(content, where)


def _assistant_blocks(blocks: list[Any], where: str) -> Message:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif (
            kind == "tool_use"
            and isinstance(block.get("id"), str)
            and isinstance(block.get("name"), str)
        ):
            arguments = json.dumps(block.get("input") or {}, separators=(",", ":"))
            calls.append(ToolCall(id=block["id"], name=block["name"], arguments=arguments))
        else:
            raise RequestError(f"{where}: unsupported assistant content block", param=where)
    return Message("assistant", "".join(texts) or None, tool_calls=calls or None)


def _user_blocks(blocks: list[Any], where: str) -> list[Message]:
    results: list[Message] = []
    texts: list[str] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_result" and isinstance(block.get("tool_use_id"), str):
            results.append(
                Message("tool", _tool_result_text(block, where), tool_call_id=block["tool_use_id"])
            )
        else:
            raise RequestError(
                f"{where}: only text and tool_result blocks are supported", param=where
            )
    if texts:
        results.append(Message("user", "".join(texts)))
    return results


def _tool_result_text(block: dict[str, Any], where: str) -> str:
    content = block.get("content", "")
    if isinstance(content, str):
        return content
    return _text_blocks(content, f"{where}.tool_result.content")


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise RequestError("'tools' must be a list", param="tools")
    tools = []
    for tool in raw:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise RequestError("each tool needs a 'name'", param="tools")
        schema = tool.get("input_schema", {"type": "object"})
        if not isinstance(schema, dict):
            raise RequestError("tool 'input_schema' must be an object", param="tools")
        function: dict[str, Any] = {"name": tool["name"], "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools or None


def _tool_choice(raw: Any) -> str | dict[str, Any] | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("auto", "none"):
        return str(kind)
    if kind == "any":
        return "required"
    if kind == "tool" and isinstance(raw.get("name"), str):
        return {"type": "function", "function": {"name": raw["name"]}}
    raise RequestError("'tool_choice.type' must be auto, any, tool or none", param="tool_choice")


# -- responses ------------------------------------------------------------------------------------


def _tool_input(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments else {}
    except ValueError:
        return {"_raw_arguments": arguments}


def stop_reason(finish_reason: str | None) -> str | None:
    return None if finish_reason is None else _STOP_REASONS.get(finish_reason, "end_turn")


def usage_json(record: CallRecord) -> dict[str, Any]:
    u = record.usage
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def render_response(record: CallRecord, response: ChatResponse) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    text = response.content if response.content is not None else response.refusal
    if text:
        content.append({"type": "text", "text": text})
    content.extend(
        {"type": "tool_use", "id": t.id, "name": t.name, "input": _tool_input(t.arguments)}
        for t in response.tool_calls or ()
    )
    return {
        "id": record.call.request_id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": "stop_sequence" if response.stop_sequence else
        stop_reason(response.finish_reason),
        "stop_sequence": response.stop_sequence,
        "usage": usage_json(record),
    }


class StreamEncoder:
    """Turns StreamChunks into Anthropic SSE events (message_start … message_stop).

    Content blocks are opened lazily: text opens a text block; each tool-call index opens a
    tool_use block; a change of block closes the previous one.
    """

    __slots__ = ("_block", "_blocks", "_finish", "_record", "_stop_sequence", "_tools")

    def __init__(self, record: CallRecord) -> None:
        self._record = record
        self._block = -1  # index of the open block, -1 = none
        self._blocks = 0
        self._tools: dict[int, int] = {}  # tool delta index -> block index
        self._finish: str | None = None
        self._stop_sequence: str | None = None

    def start(self, model: str) -> bytes:
        message: dict[str, Any] = {
            "id": self._record.call.request_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def chunk(self, chunk: StreamChunk) -> bytes:
        out = b""
        text = chunk.content if chunk.content is not None else chunk.refusal
        if text:
            if self._block < 0 or self._block in self._tools.values():
                out += self._open({"type": "text", "text": ""})
            out += _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self._block,
                    "delta": {"type": "text_delta", "text": text},
                },
            )
        for delta in chunk.tool_calls or ():
            if delta.index not in self._tools:
                out += self._open(
                    {
                        "type": "tool_use",
                        "id": delta.id or f"toolu_{delta.index}",
                        "name": delta.name or "",
                        "input": {},
                    }
                )
                self._tools[delta.index] = self._block
            if delta.arguments:
                out += _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": self._tools[delta.index],
                        "delta": {"type": "input_json_delta", "partial_json": delta.arguments},
                    },
                )
        if chunk.finish_reason is not None:
            self._finish = chunk.finish_reason
            self._stop_sequence = chunk.stop_sequence
        return out

    def end(self, record: CallRecord) -> bytes:
        out = self._close()
        out += _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "stop_sequence" if self._stop_sequence else
                    stop_reason(self._finish or "stop"),
                    "stop_sequence": self._stop_sequence,
                },
                "usage": {
                    "output_tokens": record.usage.output_tokens,
                    "input_tokens": record.usage.input_tokens,
                },
            },
        )
        return out + _event("message_stop", {"type": "message_stop"})

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._block = self._blocks
        self._blocks += 1
        return out + _event(
            "content_block_start",
            {"type": "content_block_start", "index": self._block, "content_block": block},
        )

    def _close(self) -> bytes:
        if self._block < 0:
            return b""
        index, self._block = self._block, -1
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def error_json(exc: RampwayError) -> dict[str, Any]:
    """Anthropic's error body, which also carries the OpenAI fields (param, code)."""
    return {
        "type": "error",
        "error": {
            "type": error_type(exc),
            "message": exc.message,
            "param": getattr(exc, "param", None),
            "code": exc.code,
        },
    }


def stream_error(exc: RampwayError) -> bytes:
    return _event("error", error_json(exc))


def _event(name: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":")).encode()
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


__all__ = ["StreamEncoder", "error_json", "parse_request", "render_response", "stream_error"]
