"""Input checks shared by the OpenAI and Anthropic parsers.

Hand-written type checks instead of pydantic models: they run on every request and cost a few
microseconds, and every failure is a `RequestError` naming the offending field (`param`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rampway.errors import RequestError

FEATURE_PREFIX = "rampway/"
MAX_ATTRIBUTES = 64


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
    except ValueError as exc:
        raise RequestError(
            "X-Rampway-Attributes header is not valid JSON", param="X-Rampway-Attributes"
        ) from exc
    return check_attributes(value, "X-Rampway-Attributes")


def rampway_extension(body: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
    """The `rampway` object an app sends through the SDK's `extra_body`: vars, unit, attributes.

    Example body: `{"model": "support-bot", "messages": [...],
    "rampway": {"vars": {"customer_name": "Ada"}, "unit": "user-42"}}`
    """
    ext = body.get("rampway")
    if ext is None:
        return {}, None, {}
    ext = expect_object(ext, "'rampway'")
    unknown = set(ext) - {"vars", "unit", "attributes"}
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


def pick_unit(*candidates: str | None) -> str | None:
    """The first non-empty unit among header / extension / body field."""
    for candidate in candidates:
        if candidate:
            return candidate
    return None


__all__ = [
    "FEATURE_PREFIX",
    "check_attributes",
    "expect_object",
    "feature_of",
    "header_attributes",
    "opt_bool",
    "opt_int",
    "opt_number",
    "opt_stop",
    "opt_str",
    "pick_unit",
    "rampway_extension",
]
