"""A lean HTTP/1.1 transport for httpx, for plain-`http://` upstreams (sims, vLLM, Ollama on a
private network).

Why: httpx's default transport (httpcore over anyio) costs ~0.8 ms of CPU per request on a small
machine — most of the gateway's whole latency budget. This transport keeps httpx's client API
and error types (so the adapters and their error translation are unchanged) and does the wire
work with plain asyncio streams: one write per request, keep-alive pooling per host, content-length
and chunked bodies, streamed responses (SSE). HTTPS, proxies and HTTP/2 stay with httpx's default
transport (`make_client` only picks this one for `http://` base URLs).

Example:
    client = httpx.AsyncClient(base_url="http://127.0.0.1:8900/v1", transport=FastTransport())
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

MAX_HEADER_BYTES = 65536


class _Conn:
    __slots__ = ("key", "reader", "writer")

    def __init__(self, key: tuple[str, int], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class FastTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 over asyncio streams; at most `max_idle` idle connections per host."""

    def __init__(self, max_idle: int = 100) -> None:
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._max_idle = max_idle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"FastTransport handles http:// only, not {url}")
        key = (url.host, url.port or 80)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        raw = _encode(request, await request.aread())
        conn, head = await self._send(key, raw, timeouts.get("connect"), timeouts.get("read"))
        return self._response(conn, head, request, timeouts.get("read"))

    async def exchange(self, key: tuple[str, int], raw: bytes, timeout: float | None
                       ) -> tuple[int, dict[str, str], bytes]:
        """One whole exchange of an already encoded request, without httpx's objects.

        The hot path for small JSON calls: (status, lower-cased headers, decoded body).
        """
        conn, head = await self._send(key, raw, timeout, timeout)
        try:
            status, headers = _parse_head(head)
            lowered = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
            keep, chunks = _body_reader(conn.reader, status, lowered, timeout, head_only=False)
            body = b"".join([chunk async for chunk in chunks])
        except BaseException:
            conn.close()
            raise
        if keep:
            self._release(conn)
        else:
            conn.close()
        encoding = lowered.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):  # we never ask for it, but a proxy may send it
            try:
                body = zlib.decompress(body, 47)  # 47: gzip or zlib header, auto-detected
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad {encoding} body: {exc}") from exc
        elif encoding != "identity":
            raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}")
        return status, lowered, body

    async def _send(self, key: tuple[str, int], raw: bytes, connect_timeout: float | None,
                    read_timeout: float | None) -> tuple[_Conn, bytes]:
        """Write the request and read the response head, on a pooled connection if one is idle."""
        reused = bool(self._idle.get(key))
        conn = await self._checkout(key, connect_timeout)
        try:
            return conn, await self._exchange(conn, raw, read_timeout)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            conn.close()
            if not reused:
                raise
        except BaseException:
            conn.close()
            raise
        # The server may close an idle keep-alive connection just as we reuse it: one retry on a
        # fresh connection (the request never reached the application).
        conn = await self._connect(key, connect_timeout)
        try:
            return conn, await self._exchange(conn, raw, read_timeout)
        except BaseException:
            conn.close()
            raise

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    # -- connections ------------------------------------------------------------------------

    async def _checkout(self, key: tuple[str, int], timeout: float | None) -> _Conn:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return await self._connect(key, timeout)

    async def _connect(self, key: tuple[str, int], timeout: float | None) -> _Conn:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(key[0], key[1])
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect to {key[0]}:{key[1]} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {key[0]}:{key[1]}: {exc}") from exc
        return _Conn(key, reader, writer)

    def _release(self, conn: _Conn) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()

    # -- exchange ---------------------------------------------------------------------------

    async def _exchange(self, conn: _Conn, raw: bytes, timeout: float | None) -> bytes:
        try:
            conn.writer.write(raw)
            async with asyncio.timeout(timeout):
                return await conn.reader.readuntil(b"\r\n\r\n")
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the response headers") from exc
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("server closed the connection unanswered") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("response headers too large") from exc
        except OSError as exc:
            raise httpx.ReadError(f"connection error: {exc}") from exc

    def _response(self, conn: _Conn, head: bytes, request: httpx.Request,
                  timeout: float | None) -> httpx.Response:
        status, headers = _parse_head(head)
        lowered = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        keep, chunks = _body_reader(conn.reader, status, lowered, timeout,
                                    head_only=request.method == "HEAD")
        return httpx.Response(status, headers=headers, stream=_Body(self, conn, chunks, keep),
                              request=request, extensions={"http_version": b"HTTP/1.1"})


class _Body(httpx.AsyncByteStream):
    """The response body; the connection returns to the pool only after a complete read."""

    def __init__(self, transport: FastTransport, conn: _Conn, chunks: AsyncIterator[bytes],
                 keep: bool) -> None:
        self._transport = transport
        self._conn: _Conn | None = conn
        self._chunks = chunks
        self._keep = keep

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except BaseException:
            self._discard()
            raise
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._keep:
                self._transport._release(conn)
            else:
                conn.close()

    async def aclose(self) -> None:
        self._discard()  # closed before the end: the connection's state is unknown

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _encode(request: httpx.Request, content: bytes) -> bytes:
    url = request.url
    target = url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1\r\n".encode("ascii")]
    has_length = False
    for name, value in request.headers.raw:
        low = name.lower()
        if low == b"transfer-encoding":
            continue
        has_length = has_length or low == b"content-length"
        lines.append(name + b": " + value + b"\r\n")
    if not has_length and (content or request.method in ("POST", "PUT", "PATCH")):
        lines.append(b"content-length: " + str(len(content)).encode() + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines) + content


def _body_reader(reader: asyncio.StreamReader, status: int, headers: dict[str, str],
                 timeout: float | None, *, head_only: bool) -> tuple[bool, AsyncIterator[bytes]]:
    """(keep the connection afterwards?, the body's chunks) as RFC 9112 §6.3 frames them."""
    keep = headers.get("connection", "").lower() != "close"
    if head_only or status in (204, 304) or 100 <= status < 200:
        return keep, _empty()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return keep, _chunked(reader, timeout)
    if "content-length" in headers:
        try:
            size = int(headers["content-length"])
        except ValueError as exc:
            raise httpx.RemoteProtocolError("bad content-length") from exc
        return keep, _sized(reader, size, timeout)
    return False, _until_eof(reader, timeout)


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status_line, _, rest = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"malformed status line: {status_line[:100]!r}")
    headers = []
    for line in rest.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"malformed header line: {line[:100]!r}")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


async def _read(coro: Any, timeout: float | None) -> bytes:
    try:
        async with asyncio.timeout(timeout):
            data: bytes = await coro
            return data
    except TimeoutError as exc:
        raise httpx.ReadTimeout("timed out reading the response body") from exc
    except asyncio.IncompleteReadError as exc:
        raise httpx.RemoteProtocolError("peer closed connection without sending complete "
                                        "message body") from exc
    except (asyncio.LimitOverrunError, ValueError) as exc:
        raise httpx.RemoteProtocolError(f"malformed response body: {exc}") from exc
    except OSError as exc:
        raise httpx.ReadError(f"connection error: {exc}") from exc


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _sized(reader: asyncio.StreamReader, n: int, timeout: float | None
                 ) -> AsyncIterator[bytes]:
    if n:
        yield await _read(reader.readexactly(n), timeout)


async def _chunked(reader: asyncio.StreamReader, timeout: float | None) -> AsyncIterator[bytes]:
    while True:
        size_line = await _read(reader.readuntil(b"\r\n"), timeout)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise httpx.RemoteProtocolError(f"bad chunk size {size_line[:40]!r}") from exc
        if size == 0:
            while (await _read(reader.readuntil(b"\r\n"), timeout)) != b"\r\n":
                pass  # trailers
            return
        data = await _read(reader.readexactly(size + 2), timeout)
        yield data[:-2]


async def _until_eof(reader: asyncio.StreamReader, timeout: float | None
                     ) -> AsyncIterator[bytes]:
    while True:
        data = await _read(reader.read(65536), timeout)
        if not data:
            return
        yield data


__all__ = ["FastTransport"]
