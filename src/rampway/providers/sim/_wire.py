"""What both wire formats share: a request-parsing error and small validators."""

from __future__ import annotations

from typing import Any


class WireError(Exception):
    """A request the wire format rejects. Never leaves the sim server: it becomes a 4xx body."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code


def require_dict(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"'{param}' must be an object", param=param)
    return value


def opt_number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise WireError(f"'{key}' must be a number between {lo} and {hi}", param=key)
    return float(value)


def opt_int(body: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (
            hi is not None and value > hi):
        bounds = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise WireError(f"'{key}' must be an integer {bounds}", param=key)
    return value


def stop_list(value: Any, key: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return list(value)
    raise WireError(f"'{key}' must be a string or a list of at most 4 strings", param=key)


__all__ = ["WireError", "opt_int", "opt_number", "require_dict", "stop_list"]
