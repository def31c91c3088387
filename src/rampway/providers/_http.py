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

Upstream error text is redacted of the API key before it is cut to length or goes into a
message: some providers echo the key back in their 401 body, and a key straddling the cut would
otherwise survive as all but its last characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from rampway import __version__
from rampway.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from rampway.providers._fasthttp import FastTransport

_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|prompt is too long|too many tokens"
    r"|exceeds? the (model's )?(maximum|context)",
    re.IGNORECASE,
)
_MAX_MESSAGE = 500


class Upstream:
    """One provider endpoint: pooled connections, and every failure as a ProviderError.

    The adapters hand it encoded bodies and read back bytes or an SSE response; status codes and
    transport errors are translated here, once, for both wire formats. For a plain-`http://` base
    URL (sims, vLLM/Ollama on a private network) a non-streaming call goes straight to the lean
    transport with a request head encoded once per path, skipping httpx's client layers (about a
    third of a millisecond per call on a small machine); streams and HTTPS use httpx.

        upstream = Upstream("sim", "http://127.0.0.1:8900/v1", {"content-type": "application/json"})
        body = await upstream.post("/chat/completions", payload, model="sim-large", timeout=5)
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        *,
        secret: str | None = None,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """`connect_timeout` bounds opening a connection (within each call's own timeout);
        `max_connections` bounds the requests in flight to this endpoint."""
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._connect_timeout = connect_timeout
        headers = {"user-agent": f"rampway/{__version__}", **headers}
        self._fast: FastTransport | None = None
        if transport is None and self.base_url.startswith("http://"):
            transport = self._fast = FastTransport(
                max_idle=max_connections, max_connections=max_connections
            )
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, limits=limits, transport=transport,
            follow_redirects=False,
        )
        url = self._client.base_url
        self._key = (url.host, url.port or 80)
        self._heads: dict[str, bytes] = {}

    async def post(self, path: str, body: bytes, *, model: str, timeout: float) -> bytes:
        """The body of a 2xx answer to `POST path`; anything else raises a ProviderError."""
        headers: Mapping[str, str]
        try:
            async with asyncio.timeout(timeout):
                if self._fast is not None:
                    status, headers, content = await self._fast.exchange(
                        self._key, self._head(path) + str(len(body)).encode() + b"\r\n\r\n" + body,
                        timeout, self._connect(timeout),
                    )
                else:
                    resp = await self._client.post(path, content=body,
                                                   timeout=self._timeouts(timeout))
                    status, headers, content = resp.status_code, resp.headers, resp.content
        except (httpx.HTTPError, TimeoutError) as exc:
            raise self.transport_error(exc, model) from exc
        if status >= 400:
            raise self.status_error(status, content, headers, model)
        return content

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, body: bytes, *, model: str, timeout: float
    ) -> AsyncIterator[httpx.Response]:
        """An open 2xx SSE response to `POST path` (closed on exit); errors as ProviderErrors."""
        req = self._client.build_request("POST", path, content=body,
                                         timeout=self._timeouts(timeout))
        req.headers["accept"] = "text/event-stream"
        try:
            resp = await self._client.send(req, stream=True)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, model) from exc
        try:
            if resp.status_code >= 400:
                try:
                    raw = await resp.aread()
                except httpx.HTTPError as exc:
                    raise self.transport_error(exc, model) from exc
                raise self.status_error(resp.status_code, raw, resp.headers, model)
            yield resp
        finally:
            await resp.aclose()

    def _connect(self, timeout: float) -> float:
        limit = self._connect_timeout
        return timeout if limit is None else min(limit, timeout)

    def _timeouts(self, timeout: float) -> httpx.Timeout:
        return httpx.Timeout(timeout, connect=self._connect(timeout))

    def status_error(
        self, status: int, body: bytes | str | Mapping[str, Any], headers: Mapping[str, str],
        model: str,
    ) -> ProviderError:
        return translate_status(
            status, body, headers, provider=self.provider, model=model, secret=self._secret
        )

    def transport_error(self, exc: Exception, model: str) -> ProviderError:
        return translate_transport(exc, provider=self.provider, model=model, secret=self._secret)

    def bad_payload(self, exc: Exception, model: str) -> ProviderError:
        return bad_payload(exc, provider=self.provider, model=model, secret=self._secret)

    def cut(self, model: str, why: str) -> StreamInterrupted:
        """A stream that stopped after content was sent: too late to fall back."""
        return StreamInterrupted(
            f"{self.provider}/{model}: stream cut before completion ({why})",
            provider=self.provider,
            model=model,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def _head(self, path: str) -> bytes:
        """`POST <target> HTTP/1.1` and the fixed headers, up to `content-length: ` (cached)."""
        head = self._heads.get(path)
        if head is None:
            request = self._client.build_request("POST", path, content=b"")
            lines = [f"POST {request.url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode("ascii")]
            for name, value in request.headers.raw:
                if name.lower() not in (b"content-length", b"transfer-encoding",
                                        b"accept-encoding"):
                    lines.append(name + b": " + value + b"\r\n")
            head = self._heads[path] = b"".join(lines) + b"content-length: "
        return head


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


def error_fields(
    body: bytes | str | Mapping[str, Any], secret: str | None = None
) -> tuple[str, str]:
    """(message, code-or-type) from an OpenAI or Anthropic error body; raw text if not JSON.

    Every piece of upstream text is redacted of `secret` first, then cut to length.
    """

    def clean(text: str) -> str:
        return redact(text, secret)[:_MAX_MESSAGE]

    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return clean(text.strip()), ""
    err = data.get("error") if isinstance(data, Mapping) else None
    if isinstance(err, Mapping):
        code = err.get("code") or err.get("type") or ""
        return clean(str(err.get("message") or "")), clean(str(code))
    if isinstance(err, str):
        return clean(err), ""
    message = data.get("message") if isinstance(data, Mapping) else None
    return clean(str(message) if message else str(data)), ""


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
    message, code = error_fields(body, secret)
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


def translate_transport(
    exc: Exception, *, provider: str, model: str, secret: str | None = None
) -> ProviderError:
    """The ProviderError for an httpx transport failure or an asyncio timeout."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return ProviderTimeout(
            f"{provider}/{model}: timed out ({kind})", provider=provider, model=model
        )
    text = redact(f"{provider}/{model}: connection failed ({kind}: {exc})", secret)
    return ProviderConnectionError(text[:_MAX_MESSAGE], provider=provider, model=model)


def bad_payload(
    exc: Exception, *, provider: str, model: str, secret: str | None = None
) -> ProviderError:
    """An upstream answered 2xx with something we can't read: fall back, don't retry."""
    text = redact(f"{provider}/{model}: malformed response ({type(exc).__name__}: {exc})", secret)
    return ProviderError(text[:_MAX_MESSAGE], provider=provider, model=model)


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
    "Upstream",
    "parse_retry_after",
    "redact",
    "translate_status",
    "translate_transport",
]
