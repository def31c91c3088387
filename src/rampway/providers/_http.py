"""The HTTP seam shared by the wire-format adapters: pooled clients, SSE, error translation.

Everything httpx-specific lives here and in the two adapters; they turn every httpx exception
and every HTTP error status into a `rampway.errors.ProviderError` (STYLE.md #4), so nothing
above the provider layer imports httpx.

    429                      → RateLimited (retry_after from Retry-After / retry-after-ms)
    401, 403                 → ProviderAuthError
    408                      → ProviderTimeout
    5xx (incl. 529)          → ProviderUnavailable
    400/413/422 + context    → ContextWindowExceeded
    other 4xx                → ProviderBadRequest
    httpx timeouts           → ProviderTimeout
    connect / reset / other  → ProviderConnectionError

Upstream error text is redacted of the API key before it goes into a message: some providers
echo (part of) the key back in their 401 body.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from rampway.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|prompt is too long|too many tokens"
    r"|exceeds? the (model's )?(maximum|context)",
    re.IGNORECASE,
)
_MAX_MESSAGE = 500


def make_client(
    base_url: str,
    headers: Mapping[str, str],
    *,
    max_connections: int = 100,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One pooled client per provider, created once: connection reuse is most of the latency."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    if transport is None and base_url.startswith("http://"):
        # plain HTTP (sims, vLLM/Ollama on a private network): the lean transport costs about
        # half the CPU per call of httpcore's (see _fasthttp); HTTPS keeps httpx's default.
        from rampway.providers._fasthttp import FastTransport

        transport = FastTransport(max_idle=max_connections)
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers=dict(headers),
        limits=limits,
        transport=transport,
        follow_redirects=False,
    )


def redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")
    return text


def parse_retry_after(
    headers: Mapping[str, str], *, now: dt.datetime | None = None
) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `Retry-After` as seconds or an HTTP-date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def error_fields(body: bytes | str | Mapping[str, Any]) -> tuple[str, str]:
    """(message, code-or-type) from an OpenAI or Anthropic error body; raw text if not JSON."""
    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return text.strip()[:_MAX_MESSAGE], ""
    err = data.get("error") if isinstance(data, Mapping) else None
    if isinstance(err, Mapping):
        code = err.get("code") or err.get("type") or ""
        return str(err.get("message") or "")[:_MAX_MESSAGE], str(code)
    if isinstance(err, str):
        return err[:_MAX_MESSAGE], ""
    message = data.get("message") if isinstance(data, Mapping) else None
    return (str(message) if message else str(data))[:_MAX_MESSAGE], ""


def translate_status(
    status: int,
    body: bytes | str | Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
    secret: str | None,
) -> ProviderError:
    """The ProviderError for an HTTP error status (see the table in the module docstring)."""
    message, code = error_fields(body)
    text = redact(f"{provider}/{model}: HTTP {status}: {message or code or 'error'}", secret)
    where: dict[str, Any] = {"provider": provider, "model": model, "status": status}
    retry_after = parse_retry_after(headers)
    if status == 429:
        return RateLimited(text, retry_after=retry_after, **where)
    if status in (401, 403):
        return ProviderAuthError(text, **where)
    if status == 408:
        return ProviderTimeout(text, **where)
    if status >= 500:
        return ProviderUnavailable(text, retry_after=retry_after, **where)
    if is_context_error(code, message) and status in (400, 413, 422):
        return ContextWindowExceeded(text, **where)
    if 400 <= status < 500:
        return ProviderBadRequest(text, **where)
    return ProviderError(text, **where)


def is_context_error(code: str, message: str) -> bool:
    return code == "context_length_exceeded" or bool(_CONTEXT_RE.search(message))


def translate_transport(exc: Exception, *, provider: str, model: str) -> ProviderError:
    """The ProviderError for an httpx transport failure or an asyncio timeout."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return ProviderTimeout(
            f"{provider}/{model}: timed out ({kind})", provider=provider, model=model
        )
    return ProviderConnectionError(
        f"{provider}/{model}: connection failed ({kind}: {exc})", provider=provider, model=model
    )


def bad_payload(exc: Exception, *, provider: str, model: str) -> ProviderError:
    """An upstream answered 2xx with something we can't read: fall back, don't retry."""
    return ProviderError(
        f"{provider}/{model}: malformed response ({type(exc).__name__}: {exc})"[:_MAX_MESSAGE],
        provider=provider,
        model=model,
    )


async def iter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Server-sent events as (event, data) pairs; multi-line data is joined with newlines."""
    event = ""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    # An event not terminated by a blank line was cut in transit: drop it, as the SSE spec says.


__all__ = [
    "bad_payload",
    "error_fields",
    "is_context_error",
    "iter_sse",
    "make_client",
    "parse_retry_after",
    "redact",
    "translate_status",
    "translate_transport",
]
