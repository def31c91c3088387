"""The event-log hook: turns each finished call into a `RequestEvent` and enqueues it.

Only served calls produce rows (`after_call`); rejected requests (bad input, unknown feature,
wrong key) produce none, so the log never holds partial rows. Prompt and response text are kept
only when the feature's `retention.prompts` allows, after its `retention.redact` patterns ran.
The prompt is stored as what the *app* sent (its messages and template variables) as JSON — the
release's own templates are already in the store under the release id.
The answer's tool calls go onto the row as `tool_calls` (names always, arguments only where
texts are kept): the shadow comparison reads the primary's tool use there.
The flags the resolution evaluated (`Resolution.flags`) go onto the row as they are; the writer
thread, not the request, turns them into JSON (see `rampway.events.model`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rampway.events.model import RequestEvent, hash_unit, select_attributes
from rampway.events.writer import EventWriter
from rampway.gateway.call import CallRecord
from rampway.gateway.control import FeatureSettings
from rampway.gateway.hooks import Hook


class EventLogHook(Hook):
    def __init__(self, writer: EventWriter, attributes: Sequence[str] | None = None) -> None:
        self.writer = writer
        self._attributes = None if attributes is None else tuple(attributes)

    def after_call(self, record: CallRecord) -> None:
        res = record.resolution
        if res is None:
            return
        call = record.call
        event = RequestEvent(
            id=call.request_id,
            ts=record.started,
            feature=res.feature.name,
            release_id=res.release.id,
            arm=res.arm,
            unit_hash=hash_unit(call.unit),
            session_hash=hash_unit(call.session),
            attributes=select_attributes(call.attributes, self._attributes),
            source=call.source,
            protocol=call.protocol,
            stream=call.stream,
            provider=record.provider,
            model=record.model,
            served_model=record.served_model,
            system_fingerprint=record.system_fingerprint,
            attempts=record.attempts,
            fallback_used=record.fallback_used,
            hedged=record.hedged,
            status=record.status,
            http_status=record.http_status,
            error_code=record.error_code,
            latency_ms=record.latency_s * 1000.0,
            ttft_ms=None if record.ttft_s is None else record.ttft_s * 1000.0,
            input_tokens=record.usage.input_tokens,
            output_tokens=record.usage.output_tokens,
            cached_tokens=record.usage.cached_tokens,
            cost_usd=record.cost_usd,
            refusal=record.refusal is not None,
            finish_reason=record.finish_reason,
            output_chars=len(record.content or ""),
            flags=res.flags,
        )
        settings = res.feature.settings
        if record.tool_calls:
            event.tool_calls = tool_call_records(record, settings.keep_text, settings)
        if settings.keep_text:
            event.prompt_text = prompt_text(record, settings)
            event.response_text = settings.redactor.redact(response_text(record))
        self.writer.emit(event)


def prompt_text(record: CallRecord, settings: FeatureSettings) -> str:
    """The app's input as JSON: `{"messages": [{role, content}…], "vars": {…}}`, redacted."""
    redact = settings.redactor.redact
    messages = [{"role": m.role, "content": redact(m.content)} for m in record.call.messages]
    variables: dict[str, Any] = {
        k: redact(v) if isinstance(v, str) else v for k, v in record.call.variables.items()
    }
    doc: dict[str, Any] = {"messages": messages}
    if variables:
        doc["vars"] = variables
    return json.dumps(doc, ensure_ascii=False, default=str)


def tool_call_records(
    record: CallRecord, keep_text: bool, settings: FeatureSettings
) -> list[dict[str, str]] | None:
    """The answer's tool calls as stored: `[{"name", "arguments"}…]`, arguments (redacted)
    only when texts are kept — they can carry what the user typed."""
    calls = record.tool_calls
    if not calls:
        return None
    if not keep_text:
        return [{"name": t.name} for t in calls]
    redact = settings.redactor.redact
    return [{"name": t.name, "arguments": redact(t.arguments) or ""} for t in calls]


def response_text(record: CallRecord) -> str | None:
    """What the model said: its text, or its refusal, plus tool calls as `name(arguments)`."""
    parts = [record.content or record.refusal or ""]
    parts.extend(f"{t.name}({t.arguments})" for t in record.tool_calls or ())
    text = "\n".join(p for p in parts if p)
    return text or None


__all__ = ["EventLogHook", "prompt_text", "response_text", "tool_call_records"]
