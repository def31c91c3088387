"""Outcome events (`POST /v1/feedback`, `client.feedback(...)`): validation into a FeedbackEvent.

    {"request_id": "req_…", "name": "thumbs_up", "value": 1}
    {"unit": "user-42", "feature": "support-bot", "name": "conversion", "value": 49.90,
     "time": "2025-11-26T12:00:00Z", "attributes": {"plan": "pro"}}
    {"session": "s-7", "name": "task_completed", "value": 1}

A feedback event names a request (`request_id`, as returned in `x-request-id`), a user unit
(`unit`) or a session (`session`), or several of them. An analysis by session (an experiment
or rollout declared `unit: session`) counts feedback of its session, or of the request it
names; one that names only a user unit cannot be told apart between that user's sessions and
is not counted there (and the other way round for user-unit analyses). `value` is any finite
number (booleans count as 1/0); `time` defaults to now and may be epoch seconds or ISO 8601.
The request id is not checked against the log: the request's own row may still be in the
writer's queue, and outcomes can arrive days later.
"""

from __future__ import annotations

import math
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from rampway.errors import RequestError
from rampway.events.model import FeedbackEvent, hash_unit
from rampway.gateway._common import check_attributes, check_clean, expect_object

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
MAX_FUTURE_S = 300.0
_KEYS = {"request_id", "unit", "session", "feature", "name", "value", "time", "attributes"}


def new_feedback_id() -> str:
    return "fb_" + os.urandom(12).hex()


def parse_feedback(body: Any, *, now: float | None = None) -> FeedbackEvent:
    body = expect_object(body)
    check_clean(body)  # the SDK calls this directly, without the gateway's body check
    unknown = set(body) - _KEYS
    if unknown:
        raise RequestError(f"unknown field(s): {sorted(unknown)}", param=sorted(unknown)[0])
    request_id = _opt_id(body.get("request_id"), "request_id")
    unit = _opt_id(body.get("unit"), "unit")
    session = _opt_id(body.get("session"), "session")
    if request_id is None and unit is None and session is None:
        raise RequestError("feedback needs a 'request_id', a 'unit' or a 'session'",
                           param="request_id")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RequestError(
            "'name' must be 1-200 characters: letters, digits, '_', '.', ':', '-'", param="name"
        )
    feature = _opt_id(body.get("feature"), "feature")
    attributes = body.get("attributes")
    now = time.time() if now is None else now
    return FeedbackEvent(
        id=new_feedback_id(),
        ts=_time(body.get("time"), now),
        name=name,
        value=_value(body.get("value")),
        request_id=request_id,
        unit_hash=hash_unit(unit),
        session_hash=hash_unit(session),
        feature=feature,
        attributes=None if attributes is None else check_attributes(attributes, "attributes"),
    )


def _opt_id(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise RequestError(f"'{key}' must be a non-empty string of at most 200 chars", param=key)
    return value


def _value(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    number = _finite(value) if isinstance(value, int | float) else None
    if number is None:
        raise RequestError("'value' must be a finite number (or a boolean)", param="value")
    return number


def _finite(value: float) -> float | None:
    """`value` as a finite float, or None (an int beyond float's range overflows, 1e400 is inf)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _time(value: Any, now: float) -> float:
    if value is None:
        return now
    if isinstance(value, bool):
        raise RequestError("'time' must be epoch seconds or an ISO 8601 string", param="time")
    if isinstance(value, int | float):
        finite = _finite(value)
        ts = math.inf if finite is None else finite
    elif isinstance(value, str):
        ts = _iso(value)
    else:
        raise RequestError("'time' must be epoch seconds or an ISO 8601 string", param="time")
    if not math.isfinite(ts) or ts < 0 or ts > now + MAX_FUTURE_S:
        raise RequestError("'time' is out of range (negative or in the future)", param="time")
    return ts


def _iso(value: str) -> float:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RequestError(f"'time' is not ISO 8601: {value!r}", param="time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


__all__ = ["new_feedback_id", "parse_feedback"]
