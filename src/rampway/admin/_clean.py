"""Refuse, before FastAPI sees them, values the store cannot hold: a 400 naming the field.

PostgreSQL's text and JSONB types refuse NUL characters and `\\u0000`, and no driver can encode
a lone surrogate: a reason, a key name or a flag default holding one was a 500 ("database
error: PostgreSQL text fields cannot contain NUL (0x00) bytes"), an unencodable one an unhandled
exception. Pydantic accepts both as valid strings, so the check runs here, as pure ASGI middleware
in front of the routes: on the path, the query string and the JSON body (buffered once; the
routes read it again from the buffer). The same walk as the gateway's edge
(`rampway.gateway._common.find_unclean`), run only when a cheap byte-level test says it could
find something. A body nested too deeply for the JSON parser is refused here too.

Example (raw body): {"reason": "a\\u0000b"} → 400 {"error": {"param": "reason", …}}
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from rampway.errors import RequestError
from rampway.gateway._common import find_unclean
from rampway.gateway._http import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    might_be_unclean,
    send_json,
)

MAX_NESTING_HINT = 200  # more brackets than this: parse here to catch RecursionError


class CleanInput:
    """Pure ASGI middleware: 400 for unusable values in the path, query or JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = url_problem(scope)
        if problem is None and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            body, receive = await _buffered(receive)
            problem = body_problem(body)
        if problem is not None:
            from rampway.admin.app import error_body  # the admin API's error shape

            await send_json(send, 400, error_body(problem))
            return
        await self.app(scope, receive, send)


def url_problem(scope: Scope) -> RequestError | None:
    found = find_unclean(scope.get("path", ""), "path")
    if found is None:
        query = scope.get("query_string", b"").decode("latin-1")
        found = find_unclean(dict(parse_qsl(query, keep_blank_values=True)))
    return None if found is None else _error(*found)


def body_problem(body: bytes) -> RequestError | None:
    deep = body.count(b"[") + body.count(b"{") > MAX_NESTING_HINT
    if not body or not (deep or might_be_unclean(body)):
        return None
    try:
        doc: Any = json.loads(body)
    except RecursionError:
        return RequestError("request body is nested too deeply")
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON: the route's own validation answers
    found = find_unclean(doc)
    return None if found is None else _error(*found)


def _error(path: str, problem: str) -> RequestError:
    return RequestError(f"'{path}' contains {problem}, which cannot be stored", param=path)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that replays it before the real one continues."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", _replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


__all__ = ["CleanInput", "body_problem", "url_problem"]
