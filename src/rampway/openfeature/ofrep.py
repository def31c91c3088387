"""OpenFeature Remote Evaluation Protocol (OFREP) endpoints, served by the gateway.

    POST /ofrep/v1/evaluate/flags/{key}   one flag   → 200 {key, value, reason, variant, metadata}
    POST /ofrep/v1/evaluate/flags         all flags  → 200 {flags: [...]} with an ETag;
                                          `If-None-Match` with that ETag → 304 (also weak
                                          `W/"…"`, a list `"a", "b"` or `*`)
    GET  /ofrep/v1/configuration          what this server supports (polling, flag types)

`variant` is always a string (the rule's or variation's name, else `default` / `rule-N`):
the protocol allows a string or nothing, and the official Python provider reads the key
unconditionally. A `number` flag declared with any non-integer value (`0.5`, or `1.0` in
YAML) is a float flag: all its values are served as JSON floats, so `get_float` works for
every branch; a number flag of integers only is served as integers (`get_integer`). In
process, both accessors accept any integral number.

Request body: `{"context": {"targetingKey": "user-42", "plan": "free", …}}` (optional).
`targetingKey` is the evaluation unit (percentages and splits hash it) and is also visible to
conditions. Errors follow the protocol: 400 `{key, errorCode, errorDetails}` for
INVALID_CONTEXT / TARGETING_KEY_MISSING / GENERAL, 404 with FLAG_NOT_FOUND; authentication is
the gateway's app keys (401/403 from its middleware), so the official
`openfeature-provider-ofrep` works unchanged with `headers_factory=lambda: {"Authorization":
"Bearer <app key>"}`.

Evaluation reads the control snapshot only (no I/O): flags changed through the admin API are
served here within a second, like everywhere else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from rampway.errors import RefError, RequestError
from rampway.flags import ErrorCode, Evaluation, Flag, FlagSet, FlagType, Reason
from rampway.gateway._common import find_unclean
from rampway.gateway._http import Receive, Scope, Send, dumps, headers_of, read_body, send_bytes
from rampway.gateway._http import send_json as _send_json

PREFIX = "/ofrep/v1/evaluate/flags"
CONFIGURATION = "/ofrep/v1/configuration"
# Flag changes reach the control snapshot within a second: polling faster buys nothing.
POLL_INTERVAL_S = 1.0
_NOT_FOUND = 404


class _Snapshot(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def flags(self) -> FlagSet: ...


class FlagSource(Protocol):
    """Anything with a current `snapshot` holding `flags` and `version` (the ControlWatcher)."""

    @property
    def snapshot(self) -> _Snapshot: ...


class InvalidContext(Exception):
    """The request's evaluation context is not usable (answered as OFREP INVALID_CONTEXT)."""


def parse_context(body: Any) -> tuple[dict[str, Any], str | None]:
    """(context, unit) from an OFREP request body; InvalidContext when malformed."""
    if body is None:
        return {}, None
    if not isinstance(body, dict):
        raise InvalidContext("the request body must be a JSON object")
    context = body.get("context", {})
    if context is None:
        return {}, None
    if not isinstance(context, dict):
        raise InvalidContext("'context' must be a JSON object")
    unit = context.get("targetingKey")
    if unit is not None and (not isinstance(unit, str) or not unit):
        raise InvalidContext("'targetingKey' must be a non-empty string")
    return context, unit


def success_json(key: str, result: Evaluation, flag: Flag) -> dict[str, Any]:
    metadata: dict[str, Any] = {"flagType": flag.type.value}
    if result.rule_index is not None:
        metadata["ruleIndex"] = result.rule_index
    value = result.value
    if is_float_flag(flag) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return {
        "key": key,
        "value": value,
        "reason": result.reason.value,
        "variant": variant_name(result),
        "metadata": metadata,
    }


def variant_name(result: Evaluation) -> str:
    """The variant as a string: its declared name, else `rule-N` / `default`."""
    if result.variant is not None:
        return result.variant
    return "default" if result.rule_index is None else f"rule-{result.rule_index}"


def is_float_flag(flag: Flag) -> bool:
    """A number flag with any declared non-integer value (a Python float, e.g. YAML `1.0`)."""
    if flag.type is not FlagType.NUMBER:
        return False
    values = [flag.default]
    for rule in flag.rules:
        values.append(rule.value)
        values.extend(v.value for v in rule.variations)
    return any(isinstance(v, float) for v in values)


def etag_matches(header: str | None, tag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison over a list of entity tags, or `*`."""
    if header is None:
        return False
    wanted = tag.removeprefix("W/")
    for item in header.split(","):
        candidate = item.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def configuration_json(poll_interval_s: float) -> dict[str, Any]:
    """`GET /ofrep/v1/configuration`: polling for bulk evaluation, every flag type."""
    return {
        "name": "rampway",
        "capabilities": {
            "cacheInvalidation": {
                "polling": {"enabled": True,
                            "minPollingIntervalMs": max(1, round(poll_interval_s * 1000))},
            },
            "flagEvaluation": {"unsupportedTypes": []},
        },
    }


def error_json(key: str | None, code: str, details: str) -> dict[str, Any]:
    out: dict[str, Any] = {"errorCode": code, "errorDetails": details}
    if key is not None:
        out = {"key": key, **out}
    return out


def evaluate_one(flags: FlagSet, key: str, context: Mapping[str, Any], unit: str | None
                 ) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for one flag, as the protocol wants them."""
    result = flags.evaluate(key, context, unit)
    if result.reason is not Reason.ERROR:
        return 200, success_json(key, result, flags.flags[key])
    code = result.error_code or ErrorCode.GENERAL
    status = _NOT_FOUND if code is ErrorCode.FLAG_NOT_FOUND else 400
    return status, error_json(key, code.value, result.error_message or code.value)


def evaluate_all(flags: FlagSet, context: Mapping[str, Any], unit: str | None
                 ) -> list[dict[str, Any]]:
    return [evaluate_one(flags, key, context, unit)[1] for key in sorted(flags.flags)]


def bulk_etag(version: int, context: Mapping[str, Any]) -> str:
    """Changes when the control state or the context does (so a 304 is always safe)."""
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{version}\n{canonical}".encode()).hexdigest()[:32]
    return f'"{digest}"'


class OfrepEndpoints:
    """Pure ASGI handler for the OFREP paths (mounted by the gateway at /ofrep/v1/)."""

    def __init__(self, source: FlagSource, max_body_bytes: int = 1_048_576) -> None:
        self.source = source
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == CONFIGURATION:
            if scope["method"] not in ("GET", "HEAD"):
                raise RequestError(f"use GET for {path}")
            await _send_json(send, 200, configuration_json(POLL_INTERVAL_S))
            return
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            raise RefError(f"no endpoint {scope['method']} {path}")
        if scope["method"] != "POST":
            raise RequestError(f"use POST for {path}")
        raw = await read_body(scope, receive, self.limit)
        try:
            body = json.loads(raw) if raw.strip() else None
            unclean = find_unclean(body)
            if unclean is not None:  # a unit no hash can encode, a NUL, a non-finite number
                raise InvalidContext(f"{unclean[0]} contains {unclean[1]}")
            context, unit = parse_context(body)
        except (ValueError, UnicodeDecodeError, RecursionError, InvalidContext) as exc:
            key = path[len(PREFIX) + 1 :] or None
            await _send_json(send, 400, error_json(key, "INVALID_CONTEXT", str(exc)))
            return
        snapshot = self.source.snapshot
        if path == PREFIX:
            await self._bulk(scope, send, snapshot, context, unit)
            return
        status, out = evaluate_one(snapshot.flags, path[len(PREFIX) + 1 :], context, unit)
        await _send_json(send, status, out)

    async def _bulk(self, scope: Scope, send: Send, snapshot: _Snapshot,
                    context: dict[str, Any], unit: str | None) -> None:
        tag = bulk_etag(snapshot.version, context)
        if etag_matches(headers_of(scope).get("if-none-match"), tag):
            await send_bytes(send, 304, b"", [(b"etag", tag.encode())])
            return
        flags = evaluate_all(snapshot.flags, context, unit)
        await send_bytes(send, 200, dumps({"flags": flags}),
                         [(b"content-type", b"application/json"), (b"etag", tag.encode())])


__all__ = [
    "OfrepEndpoints",
    "bulk_etag",
    "configuration_json",
    "error_json",
    "etag_matches",
    "evaluate_all",
    "evaluate_one",
    "is_float_flag",
    "parse_context",
    "success_json",
    "variant_name",
]
