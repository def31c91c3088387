"""Input checks shared by the OpenAI and Anthropic parsers.

Hand-written type checks instead of pydantic models: they run on every request and cost a few
microseconds, and every failure is a `RequestError` naming the offending field (`param`).

`find_unclean` is the edge check for values nothing downstream can carry: a lone surrogate
(valid JSON, `"\\ud800"`, but no UTF-8 encoding exists: an upstream answers 500, a driver
raises), a NUL character (PostgreSQL's text and JSONB refuse it) and a non-finite number
(`NaN`, `1e400`; JSON has no such value). Refusing them here, with a 400 naming the field, keeps
them out of upstream calls, circuit breakers and the event log alike.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from rampway.errors import RequestError

FEATURE_PREFIX = "rampway/"
MAX_ATTRIBUTES = 64


_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def find_unclean(value: Any, where: str = "") -> tuple[str, str] | None:
    """(field path, what is wrong) for the first unusable value inside `value`, or None.

    Paths read like the request: `messages[0].content`, `metadata.plan`, `user`.
    Example:
        find_unclean({"user": "\ud800"})  # ("user", "a lone surrogate (U+D800)")
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = _char_problem(item)
            if problem:
                return path or "request body", problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path or "request body", f"a non-finite number ({item})"
        elif isinstance(item, dict):
            for key, sub in item.items():
                inner = f"{path}.{key}" if path else str(key)
                problem = _char_problem(key)
                if problem:
                    return (path or "request body"), f"a key with {problem}"
                stack.append((sub, inner))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]") for i, sub in enumerate(item))
    return None


def _char_problem(text: str) -> str | None:
    bad = _BAD_CHAR.search(text)
    if bad is None:
        return None
    char = bad.group()
    if char == "\x00":
        return "a NUL character (U+0000)"
    return f"a lone surrogate (U+{ord(char):04X})"


def check_clean(value: Any, where: str = "") -> None:
    """Raise a RequestError naming the field if `value` holds what `find_unclean` finds."""
    found = find_unclean(value, where)
    if found is not None:
        path, problem = found
        raise RequestError(f"'{path}' contains {problem}, which cannot be processed", param=path)


def expect_object(body: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(f"{what} must be a JSON object")
    return body


def feature_of(model: Any) -> str:
    """`support-bot` or `rampway/support-bot` → `support-bot`."""
    if not isinstance(model, str) or not model:
        raise RequestError("'model' must name a feature (a non-empty string)", param="model")
    return model[len(FEATURE_PREFIX) :] if model.startswith(FEATURE_PREFIX) else model


def opt_number(body: Mapping[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise RequestError(f"'{key}' must be a number between {lo:g} and {hi:g}", param=key)
    return float(value)


def opt_int(body: Mapping[str, Any], key: str, lo: int = 1) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise RequestError(f"'{key}' must be an integer >= {lo}", param=key)
    return value


def opt_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(f"'{key}' must be a string", param=key)
    return value


def opt_stop(body: Mapping[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return list(value)
    raise RequestError(f"'{key}' must be a string or a list of up to 4 strings", param=key)


def opt_bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(f"'{key}' must be a boolean", param=key)
    return value


def check_attributes(value: Any, where: str) -> dict[str, Any]:
    """Targeting attributes: a flat JSON object of scalar values (str, number, bool, null)."""
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be a JSON object of attributes", param=where)
    if len(value) > MAX_ATTRIBUTES:
        raise RequestError(f"{where} has more than {MAX_ATTRIBUTES} attributes", param=where)
    for name, item in value.items():
        if item is not None and not isinstance(item, str | int | float | bool):
            raise RequestError(
                f"{where}: attribute {name!r} must be a string, number, boolean or null",
                param=where,
            )
    return value


def header_attributes(raw: str | None) -> dict[str, Any] | None:
    """Parse the `X-Rampway-Attributes` header (a JSON object)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestError(
            "X-Rampway-Attributes header is not valid JSON", param="X-Rampway-Attributes"
        ) from exc
    check_clean(value, "X-Rampway-Attributes")
    return check_attributes(value, "X-Rampway-Attributes")


def rampway_extension(body: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
    """The `rampway` object an app sends through the SDK's `extra_body`: vars, unit, attributes
    (its `session` is read by `session_id`).

    Example body: `{"model": "support-bot", "messages": [...],
    "rampway": {"vars": {"customer_name": "Ada"}, "unit": "user-42", "session": "s-7"}}`
    """
    ext = body.get("rampway")
    if ext is None:
        return {}, None, {}
    ext = expect_object(ext, "'rampway'")
    unknown = set(ext) - {"vars", "unit", "session", "attributes"}
    if unknown:
        raise RequestError(f"'rampway' has unknown keys: {sorted(unknown)}", param="rampway")
    variables = ext.get("vars") or {}
    if not isinstance(variables, dict):
        raise RequestError("'rampway.vars' must be a JSON object", param="rampway.vars")
    unit = ext.get("unit")
    if unit is not None and (not isinstance(unit, str) or not unit):
        raise RequestError("'rampway.unit' must be a non-empty string", param="rampway.unit")
    attributes = ext.get("attributes")
    attrs = {} if attributes is None else check_attributes(attributes, "rampway.attributes")
    return variables, unit, attrs


def unit_header(headers: Mapping[str, str]) -> str | None:
    """`X-Rampway-Unit`, refused (400) if it holds a NUL."""
    unit = headers.get("x-rampway-unit")
    check_clean(unit, "X-Rampway-Unit")
    return unit


def metadata_unit(metadata: Any, where: str = "metadata",
                  keys: tuple[str, ...] = ("user_id", "trace_user_id")) -> str | None:
    """The user id LiteLLM-style clients put in `metadata` (their client drops `user=`):
    `user_id` (what LiteLLM's proxy reads too), else `trace_user_id` (its Langfuse key); for
    `litellm_metadata` the key is `user`, as LiteLLM's proxy reads it.

    Example: `metadata_unit({"user_id": "u-42", "plan": "pro"})` → "u-42".
    """
    if not isinstance(metadata, dict):
        return None
    for key in keys:
        value = metadata.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RequestError(f"'{where}.{key}' must be a string", param=f"{where}.{key}")
        return str(value)
    return None


def session_id(headers: Mapping[str, str], body: Mapping[str, Any], metadata: Any) -> str | None:
    """The session unit: `X-Rampway-Session`, else `rampway.session`, else `metadata.session_id`
    (Langfuse's and LiteLLM's key). Distinct from the user unit: a request may carry both.

    Example: `session_id({}, {}, {"session_id": "s-7", "user_id": "u-42"})` → "s-7".
    """
    header = headers.get("x-rampway-session")
    if header:
        check_clean(header, "X-Rampway-Session")
        return header
    ext = body.get("rampway")
    if isinstance(ext, dict) and ext.get("session") is not None:
        value = ext["session"]
        if not isinstance(value, str) or not value:
            raise RequestError("'rampway.session' must be a non-empty string",
                               param="rampway.session")
        return value
    return metadata_unit(metadata, keys=("session_id",)) or None


def pick_unit(*candidates: str | None) -> str | None:
    """The first non-empty unit among header / extension / body field."""
    for candidate in candidates:
        if candidate:
            return candidate
    return None


__all__ = [
    "FEATURE_PREFIX",
    "check_attributes",
    "check_clean",
    "expect_object",
    "feature_of",
    "find_unclean",
    "header_attributes",
    "metadata_unit",
    "opt_bool",
    "opt_int",
    "opt_number",
    "opt_stop",
    "opt_str",
    "pick_unit",
    "unit_header",
    "rampway_extension",
    "session_id",
]
