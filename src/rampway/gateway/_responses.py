"""OpenAI Responses API wire format (`POST /v1/responses`): request → CallInput, the served
answer → a `response` object, or its SSE events when streaming.

The same pipeline as Chat Completions serves it (flags, assignment, release rendering, router,
events); only the shapes differ. Mapping onto the normalized model:

    input (string)                    one user message
    input (items)                     message items (input_text / output_text parts) become
                                      messages, `function_call` items the assistant's tool calls,
                                      `function_call_output` items `tool` messages
    instructions                      a leading system message (a managed release supplies its
                                      own system prompt, as for Chat Completions)
    tools / tool_choice               function tools (flat form) ↔ chat function tools
    text.format                       response_format (json_schema, json_object, text)
    max_output_tokens                 max_tokens

What the normalized model cannot carry is refused with a 400 naming the field — hosted tools,
image and file inputs, `previous_response_id` and `store: true` (no response is stored to be
retrieved or continued), reasoning settings — and so is any field this module does not know.

Streaming emits OpenAI's event sequence: `response.created`, `response.in_progress`, per output
item `response.output_item.added` → (`response.content_part.added`,
`response.output_text.delta`…, `response.output_text.done`, `response.content_part.done` | 
`response.function_call_arguments.delta`…, `response.function_call_arguments.done`) →
`response.output_item.done`, then `response.completed` (or `response.incomplete`), each with a
`sequence_number`; a failure after the stream started is an `error` event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rampway.errors import RampwayError, RequestError
from rampway.gateway import _common as c
from rampway.gateway import _openai
from rampway.gateway.call import CallInput, CallRecord
from rampway.providers.types import ChatResponse, Message, StreamChunk, ToolCall

#: Accepted request fields; anything else is a 400 naming it. The trailing group is accepted
#: only with the values that change nothing here (checked in `_check_inert`).
KNOWN_FIELDS = frozenset({
    "model", "input", "instructions", "stream", "temperature", "top_p", "max_output_tokens",
    "tools", "tool_choice", "text", "metadata", "user", "safety_identifier", "rampway",
    "store", "parallel_tool_calls", "truncation", "include", "reasoning", "service_tier",
    "stream_options", "background",
})
_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}


def parse_request(body: Any, headers: Mapping[str, str]) -> CallInput:
    """Validate a /v1/responses body (+ rampway headers) into a CallInput."""
    body = c.expect_object(body)
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise RequestError(f"'{unknown[0]}' is not supported by rampway's Responses API",
                           param=unknown[0])
    _check_inert(body)
    feature = c.feature_of(body.get("model"))
    variables, ext_unit, ext_attrs = c.rampway_extension(body)
    metadata = body.get("metadata")
    unit = c.pick_unit(
        c.unit_header(headers),
        ext_unit,
        c.opt_str(body, "safety_identifier"),
        c.opt_str(body, "user"),
        c.metadata_unit(metadata),
    )
    session = c.session_id(headers, body, metadata)
    attributes = c.header_attributes(headers.get("x-rampway-attributes"))
    if attributes is None:
        attributes = {} if metadata is None else c.check_attributes(metadata, "metadata")
    messages = parse_input(body.get("input"))
    instructions = c.opt_str(body, "instructions")
    if instructions:
        messages.insert(0, Message("system", instructions))
    return CallInput(
        feature=feature,
        messages=messages,
        variables=variables,
        unit=unit,
        attributes={**attributes, **ext_attrs},
        params=parse_params(body),
        stream=c.opt_bool(body, "stream"),
        protocol="responses",
        session=session,
    )


def _check_inert(body: Mapping[str, Any]) -> None:
    """Fields accepted only with values that ask for nothing rampway does not do."""
    inert: dict[str, tuple[Any, ...]] = {
        "store": (None, False),  # nothing is kept to GET or continue (previous_response_id)
        "parallel_tool_calls": (None, True),
        "truncation": (None, "disabled"),
        "include": (None, []),
        "reasoning": (None, {}),
        "service_tier": (None, "auto", "default"),
        "background": (None, False),
    }
    for name, allowed in inert.items():
        if body.get(name, None) not in allowed:
            shown = ", ".join("absent" if v is None else json.dumps(v) for v in allowed)
            raise RequestError(f"'{name}' is not supported here (accepted: {shown})", param=name)
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict)
                                or set(options) - {"include_obfuscation"}):
        raise RequestError("'stream_options' may only hold include_obfuscation",
                           param="stream_options")


def parse_params(body: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "temperature": c.opt_number(body, "temperature", 0, 2),
        "top_p": c.opt_number(body, "top_p", 0, 1),
        "max_tokens": c.opt_int(body, "max_output_tokens"),
        "tools": _tools(body.get("tools")),
        "tool_choice": _tool_choice(body.get("tool_choice")),
        "response_format": _text_format(body.get("text")),
    }
    return {k: v for k, v in params.items() if v is not None}


# -- input ----------------------------------------------------------------------------------------


def parse_input(raw: Any) -> list[Message]:
    """`input`: a string (one user turn) or a non-empty list of input items."""
    if isinstance(raw, str):
        return [Message("user", raw)]
    if not isinstance(raw, list) or not raw:
        raise RequestError("'input' must be a string or a non-empty list of items",
                           param="input")
    out: list[Message] = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise RequestError(f"{where} must be an object", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message_item(item, where))
        elif kind == "function_call":
            _add_call(out, _function_call_item(item, where))
        elif kind == "function_call_output":
            out.append(_call_output_item(item, where))
        else:
            raise RequestError(f"{where}.type {kind!r} is not supported (message, "
                               "function_call, function_call_output)", param=f"{where}.type")
    return out


def _message_item(item: Mapping[str, Any], where: str) -> Message:
    raw_role = item.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise RequestError(f"{where}.role must be one of {sorted(_ROLES)}", param=f"{where}.role")
    return Message(role, _item_text(item.get("content"), f"{where}.content"))  # type: ignore[arg-type]


def _item_text(raw: Any, where: str) -> str:
    """A string, or text parts (`input_text`, `output_text`) joined; other parts are a 400."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, list):
        raise RequestError(f"{where} must be a string or a list of parts", param=where)
    texts = []
    for j, part in enumerate(raw):
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get("text") if isinstance(part, dict) else None
        if kind not in ("input_text", "output_text") or not isinstance(text, str):
            raise RequestError(f"{where}[{j}]: only input_text and output_text parts with a "
                               f"string 'text' are supported (got {kind!r})",
                               param=f"{where}[{j}]")
        texts.append(text)
    return "".join(texts)


def _function_call_item(item: Mapping[str, Any], where: str) -> ToolCall:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not (isinstance(call_id, str) and isinstance(name, str) and isinstance(arguments, str)):
        raise RequestError(f"{where}: a function_call needs string call_id, name and arguments",
                           param=where)
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _add_call(out: list[Message], call: ToolCall) -> None:
    """Consecutive function calls belong to one assistant turn (as chat messages carry them)."""
    last = out[-1] if out else None
    if last is not None and last.role == "assistant" and (last.tool_calls or not last.content):
        last.tool_calls = [*(last.tool_calls or []), call]
    else:
        out.append(Message("assistant", None, tool_calls=[call]))


def _call_output_item(item: Mapping[str, Any], where: str) -> Message:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str):
        raise RequestError(f"{where}.call_id must be a string", param=f"{where}.call_id")
    text = output if isinstance(output, str) else _item_text(output, f"{where}.output")
    return Message("tool", text, tool_call_id=call_id)


# -- tools and text format ------------------------------------------------------------------------


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    """Flat function tools (`{"type": "function", "name", "parameters", …}`) → chat form."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise RequestError("'tools' must be a list", param="tools")
    out = []
    for i, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise RequestError(f"tools[{i}]: only function tools are supported (got {kind!r})",
                               param=f"tools[{i}].type")
        if not isinstance(tool.get("name"), str):
            raise RequestError(f"tools[{i}].name must be a string", param=f"tools[{i}].name")
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict")
              if tool.get(k) is not None}
        out.append({"type": "function", "function": fn})
    return out or None


def _tool_choice(raw: Any) -> str | dict[str, Any] | None:
    if raw is None or raw in ("auto", "none", "required"):
        return raw  # type: ignore[no-any-return]
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("name"), str):
        return {"type": "function", "function": {"name": raw["name"]}}
    raise RequestError("'tool_choice' must be auto, none, required or "
                       "{\"type\": \"function\", \"name\": …}", param="tool_choice")


def _text_format(raw: Any) -> dict[str, Any] | None:
    """`text.format` → response_format: json_schema's fields sit flat in the Responses API."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"format", "verbosity"}:
        raise RequestError("'text' may hold 'format' (and 'verbosity': medium)", param="text")
    if raw.get("verbosity") not in (None, "medium"):
        raise RequestError("'text.verbosity' is not supported", param="text.verbosity")
    fmt = raw.get("format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema" or not isinstance(fmt.get("schema"), dict) \
            or not isinstance(fmt.get("name"), str):
        raise RequestError("'text.format' must be text, json_object or json_schema with a "
                           "name and a schema", param="text.format")
    spec = {k: fmt[k] for k in ("name", "schema", "description", "strict")
            if fmt.get(k) is not None}
    return {"type": "json_schema", "json_schema": spec}


# -- responses ------------------------------------------------------------------------------------


def response_id(record: CallRecord) -> str:
    return "resp_" + record.call.request_id.removeprefix("req_")


def _item_id(record: CallRecord, prefix: str, n: int) -> str:
    return f"{prefix}_{record.call.request_id.removeprefix('req_')}{n:02d}"


def usage_json(record: CallRecord) -> dict[str, Any]:
    u = record.usage
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def _status(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """(status, incomplete_details) for a finish reason."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def message_item(record: CallRecord, text: str | None, refusal: str | None,
                 status: str = "completed") -> dict[str, Any]:
    part: dict[str, Any] = (
        {"type": "refusal", "refusal": refusal} if refusal is not None and text is None
        else {"type": "output_text", "text": text or "", "annotations": [], "logprobs": []})
    return {"type": "message", "id": _item_id(record, "msg", 0), "status": status,
            "role": "assistant", "content": [part]}


def call_item(record: CallRecord, n: int, call: ToolCall, status: str = "completed"
              ) -> dict[str, Any]:
    return {"type": "function_call", "id": _item_id(record, "fc", n + 1), "call_id": call.id,
            "name": call.name, "arguments": call.arguments, "status": status}


def output_items(record: CallRecord, content: str | None, refusal: str | None,
                 calls: list[ToolCall] | None) -> list[dict[str, Any]]:
    out = []
    if content or refusal or not calls:
        out.append(message_item(record, content, refusal))
    out.extend(call_item(record, n, t) for n, t in enumerate(calls or ()))
    return out


def response_object(record: CallRecord, model: str, *, status: str,
                    output: list[dict[str, Any]], finish_reason: str | None = None
                    ) -> dict[str, Any]:
    """The `response` object; request settings are echoed as OpenAI does."""
    params = record.call.params
    incomplete: dict[str, str] | None = None
    if status != "in_progress":
        status, incomplete = _status(finish_reason)
    instructions = next((m.content for m in record.call.messages[:1] if m.role == "system"),
                        None)
    return {
        "id": response_id(record),
        "object": "response",
        "created_at": int(record.started),
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": instructions,
        "max_output_tokens": params.get("max_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": params.get("temperature"),
        "text": {"format": _format_json(params.get("response_format"))},
        "tool_choice": _tool_choice_json(params.get("tool_choice")),
        "tools": [_tool_json(t) for t in params.get("tools") or ()],
        "top_p": params.get("top_p"),
        "truncation": "disabled",
        "usage": None if status == "in_progress" else usage_json(record),
        "user": record.call.unit,
        "metadata": {k: str(v) for k, v in record.call.attributes.items()},
    }


def _tool_json(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool["function"]
    return {"type": "function", "name": fn["name"], "description": fn.get("description"),
            "parameters": fn.get("parameters"), "strict": fn.get("strict", True)}


def _tool_choice_json(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "name": choice["function"]["name"]}
    return choice or "auto"


def _format_json(rf: dict[str, Any] | None) -> dict[str, Any]:
    if rf is None:
        return {"type": "text"}
    if rf["type"] == "json_schema":
        return {"type": "json_schema", **rf["json_schema"]}
    return {"type": rf["type"]}


def render_response(record: CallRecord, response: ChatResponse) -> dict[str, Any]:
    output = output_items(record, response.content, response.refusal, response.tool_calls)
    return response_object(record, response.model, status="completed", output=output,
                           finish_reason=response.finish_reason)


class StreamEncoder:
    """Turns StreamChunks into Responses API SSE events.

    Output items open lazily: text (or a refusal) opens the message item; each tool-call
    index opens a function_call item; a new item closes the open one. Every event carries the
    next `sequence_number`, as the OpenAI clients expect.
    """

    __slots__ = ("_calls", "_finish", "_model", "_open", "_outputs", "_part", "_record",
                 "_seq", "_text")

    def __init__(self, record: CallRecord) -> None:
        self._record = record
        self._seq = 0
        self._model = ""
        self._outputs: list[dict[str, Any]] = []  # finished items, in output order
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._part = "output_text"  # the open message's part type (or "refusal")
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}  # tool delta index -> its item
        self._finish: str | None = None

    def start(self, model: str) -> bytes:
        self._model = model
        snapshot = response_object(self._record, model, status="in_progress", output=[])
        return (self._event("response.created", {"response": snapshot})
                + self._event("response.in_progress", {"response": snapshot}))

    def chunk(self, chunk: StreamChunk) -> bytes:
        out = b""
        if chunk.content:
            out += self._text_delta(chunk.content, refusal=False)
        elif chunk.refusal:
            out += self._text_delta(chunk.refusal, refusal=True)
        for delta in chunk.tool_calls or ():
            item = self._calls.get(delta.index)
            if item is None:
                out += self._close()
                n = len(self._calls)
                item = call_item(self._record, n, ToolCall(delta.id or f"call_{n}",
                                                           delta.name or "", ""), "in_progress")
                self._calls[delta.index] = item
                out += self._added(item)
            if delta.name and not item["name"]:
                item["name"] = delta.name
            if delta.arguments:
                item["arguments"] += delta.arguments
                out += self._event("response.function_call_arguments.delta", {
                    "item_id": item["id"], "output_index": len(self._outputs),
                    "delta": delta.arguments})
        if chunk.finish_reason is not None:
            self._finish = chunk.finish_reason
        return out

    def _open_message(self, *, refusal: bool) -> bytes:
        out = self._close()
        self._part = "refusal" if refusal else "output_text"
        out += self._added({**message_item(self._record, None, None, "in_progress"),
                            "content": []})
        return out + self._event("response.content_part.added",
                                 {**self._where(), "part": self._part_json("")})

    def _text_delta(self, text: str, *, refusal: bool) -> bytes:
        out = b""
        if self._open is None or self._open["type"] != "message":
            out += self._open_message(refusal=refusal)
        self._text.append(text)
        if self._part == "refusal":
            return out + self._event("response.refusal.delta", {**self._where(), "delta": text})
        return out + self._event("response.output_text.delta",
                                 {**self._where(), "delta": text, "logprobs": []})

    def end(self, record: CallRecord) -> bytes:
        out = b""
        if not self._outputs and self._open is None:  # an empty answer still has a message
            out += self._open_message(refusal=False)
        out += self._close()
        final = response_object(record, self._model, status="completed",
                                 output=self._outputs, finish_reason=self._finish)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return out + self._event(kind, {"response": final})

    def stream_error(self, exc: RampwayError) -> bytes:
        """A failure after the stream started: OpenAI's `error` event."""
        return self._event("error", {"code": exc.code, "message": exc.message,
                                     "param": getattr(exc, "param", None)})

    # -- helpers --------------------------------------------------------------------------

    def _where(self, item: dict[str, Any] | None = None) -> dict[str, Any]:
        item = item or self._open
        assert item is not None
        return {"item_id": item["id"], "output_index": len(self._outputs), "content_index": 0}

    def _part_json(self, text: str) -> dict[str, Any]:
        if self._part == "refusal":
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _added(self, item: dict[str, Any]) -> bytes:
        self._open = item
        return self._event("response.output_item.added",
                           {"output_index": len(self._outputs), "item": dict(item)})

    def _close(self) -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        index = len(self._outputs)
        out = b""
        if item["type"] == "message":
            text = "".join(self._text)
            where = self._where(item)
            if self._part == "refusal":
                out += self._event("response.refusal.done", {**where, "refusal": text})
            else:
                out += self._event("response.output_text.done",
                                   {**where, "text": text, "logprobs": []})
            out += self._event("response.content_part.done",
                               {**where, "part": self._part_json(text)})
            item = {**item, "status": "completed", "content": [self._part_json(text)]}
        else:
            item = {**item, "status": "completed"}
            out += self._event("response.function_call_arguments.done", {
                "item_id": item["id"], "output_index": index, "name": item["name"],
                "arguments": item["arguments"]})
        self._outputs.append(item)
        return out + self._event("response.output_item.done",
                                 {"output_index": index, "item": item})

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        body = json.dumps(payload, separators=(",", ":")).encode()
        return b"event: " + kind.encode() + b"\ndata: " + body + b"\n\n"


def error_json(exc: RampwayError) -> dict[str, Any]:
    return _openai.error_json(exc)


__all__ = ["StreamEncoder", "error_json", "parse_request", "render_response", "response_id"]
