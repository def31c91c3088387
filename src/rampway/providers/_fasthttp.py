"""A lean HTTP/1.1 transport for httpx, for plain-`http://` upstreams (sims, vLLM, Ollama on a
private network).

Why: httpx's default transport (httpcore over anyio) costs ~0.8 ms of CPU per request on a small
machine — most of the gateway's whole latency budget. This transport keeps httpx's client API
and error types (so the adapters and their error translation are unchanged) and does the wire
work with plain asyncio streams: one write per request, keep-alive pooling per host, content-length
and chunked bodies, streamed responses (SSE). HTTPS, proxies and HTTP/2 stay with httpx's default
transport (`make_client` only picks this one for `http://` base URLs).

Two promises an LLM upstream needs (issue #12):
* **Connection cap** — at most `max_connections` requests are in flight at once (each holds a
  connection from before it is sent until its body is read or closed); the next one waits for
  a slot, within its own timeout. Without it, 250 concurrent calls opened 250 connections.
* **No silent re-send** — a POST is never written a second time by the transport: once its
  bytes may have reached the upstream, a retry could double-bill a model call. A failure on a
  reused keep-alive connection surfaces as an error, and the router's retry policy (visible as
  an attempt) decides. Only idempotent requests (GET, HEAD) get one retry on a fresh connection.

Example:
    client = httpx.AsyncClient(base_url="http://127.0.0.1:8900/v1", transport=FastTransport())
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

MAX_HEADER_BYTES = 65536
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


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
    """Keep-alive HTTP/1.1 over asyncio streams: at most `max_connections` requests in flight
    (default: `max_idle`) and at most `max_idle` idle connections per host."""

    def __init__(self, max_idle: int = 100, max_connections: int | None = None) -> None:
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._max_idle = max_idle
        self.max_connections = max_connections or max_idle
        self._slots = asyncio.Semaphore(self.max_connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"FastTransport handles http:// only, not {url}")
        key = (url.host, url.port or 80)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        raw = _encode(request, await request.aread())
        await self._acquire(timeouts.get("pool"))
        try:
            conn, head = await self._send(key, raw, timeouts.get("connect"),
                                          timeouts.get("read"),
                                          resend=request.method in IDEMPOTENT)
            return self._response(conn, head, request, timeouts.get("read"))
        except BaseException:
            self._slots.release()
            raise

    async def exchange(self, key: tuple[str, int], raw: bytes, timeout: float | None,
                       connect_timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        """One whole POST exchange of an already encoded request, without httpx's objects.

        The hot path for small JSON calls: (status, lower-cased headers, decoded body).
        """
        connect = timeout if connect_timeout is None else connect_timeout
        await self._acquire(timeout)
        try:
            conn, head = await self._send(key, raw, connect, timeout, resend=False)
            try:
                status, headers = _parse_head(head)
                lowered = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
                keep, chunks = _body_reader(conn.reader, status, lowered, timeout,
                                            head_only=False)
                body = b"".join([chunk async for chunk in chunks])
            except BaseException:
                conn.close()
                raise
            if keep:
                self._release(conn)
            else:
                conn.close()
        finally:
            self._slots.release()
        encoding = lowered.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):  # we never ask for it, but a proxy may send it
            try:
                body = zlib.decompress(body, 47)  # 47: gzip or zlib header, auto-detected
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad {encoding} body: {exc}") from exc
        elif encoding != "identity":
            raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}")
        return status, lowered, body

    async def _acquire(self, timeout: float | None) -> None:
        """Wait for one of the `max_connections` slots (a pool timeout, in httpx's terms)."""
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout(
                f"all {self.max_connections} connections busy for {timeout}s"
            ) from exc

    async def _send(self, key: tuple[str, int], raw: bytes, connect_timeout: float | None,
                    read_timeout: float | None, *, resend: bool) -> tuple[_Conn, bytes]:
        """Write the request and read the response head, on a pooled connection if one is idle.

        `resend`: the request is idempotent, so a reused connection that turns out dead may be
        replaced and the request written again. Never for a POST (see the module docstring).
        """
        reused = bool(self._idle.get(key))
        conn = await self._checkout(key, connect_timeout)
        try:
            return conn, await self._exchange(conn, raw, read_timeout)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            conn.close()
            if not (reused and resend):
                raise
        except BaseException:
            conn.close()
            raise
        # The server may close an idle keep-alive connection just as we reuse it: one retry on a
        # fresh connection, for an idempotent request only.
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
        body = _Body(self, conn, chunks, keep, self._slots.release)
        return httpx.Response(status, headers=headers, stream=body,
                              request=request, extensions={"http_version": b"HTTP/1.1"})


class _Body(httpx.AsyncByteStream):
    """The response body; the connection returns to the pool only after a complete read, and
    its slot (`max_connections`) is freed once, when the body is read or closed."""

    def __init__(self, transport: FastTransport, conn: _Conn, chunks: AsyncIterator[bytes],
                 keep: bool, release_slot: Callable[[], None]) -> None:
        self._transport = transport
        self._conn: _Conn | None = conn
        self._chunks = chunks
        self._keep = keep
        self._release_slot: Callable[[], None] | None = release_slot

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
        self._free_slot()

    async def aclose(self) -> None:
        self._discard()  # closed before the end: the connection's state is unknown

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._free_slot()

    def _free_slot(self) -> None:
        release, self._release_slot = self._release_slot, None
        if release is not None:
            release()


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
