"""Minimal pure-ASGI plumbing for the hot path: read a bounded body, send JSON or SSE.

Why not Starlette's Request/Response here: the gateway's own added latency budget is ~1 ms p50,
and the per-request objects, header parsing and middleware dispatch of a framework cost a
noticeable share of it. These helpers do only what the endpoints use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from rampway.errors import PayloadTooLarge, RequestError
from rampway.gateway._common import check_clean

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_TYPE = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def state(scope: Scope) -> dict[str, Any]:
    """Per-request scratch space shared by middleware and endpoints (request id, release…)."""
    st: dict[str, Any] = scope.setdefault("state", {})
    return st


def headers_of(scope: Scope) -> dict[str, str]:
    """Request headers as a dict of lower-case names (latin-1, as HTTP/1.1 defines)."""
    cached: dict[str, str] | None = scope.get("rampway.headers")
    if cached is None:
        cached = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        scope["rampway.headers"] = cached
    return cached


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing (413) anything over `limit` bytes before reading it."""
    declared = headers_of(scope).get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# What a body must contain for `check_clean` to find anything: an escaped NUL or surrogate, a
# raw NUL or (CESU-encoded) surrogate, NaN/Infinity, or an exponent of 3+ digits (1e400). A
# body without any of them (nearly every one) skips the walk over the parsed document.
_SUSPECT = re.compile(
    rb"\\u(?:0000|[dD][89a-fA-F])|\x00|\xed[\xa0-\xbf]|NaN|Infinity|[eE][+-]?[0-9]{3}"
)


def parse_json(body: bytes) -> Any:
    """The parsed body; malformed, too deeply nested or unusable values are 400s."""
    if not body:
        raise RequestError("request body is empty: send a JSON object")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestError("request body is nested too deeply") from exc
    if might_be_unclean(body):
        check_clean(doc)
    return doc


def might_be_unclean(body: bytes) -> bool:
    """Whether `check_clean` could find anything in this JSON text (cheap, byte-level)."""
    return _SUSPECT.search(body) is not None


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def send_json(
    send: Send, status: int, obj: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send_bytes(send, status, dumps(obj), [JSON_TYPE, *headers])


async def send_bytes(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "ASGIApp",
    "Headers",
    "Receive",
    "SSE_HEADERS",
    "Scope",
    "Send",
    "dumps",
    "headers_of",
    "might_be_unclean",
    "parse_json",
    "read_body",
    "send_bytes",
    "send_json",
    "state",
]
