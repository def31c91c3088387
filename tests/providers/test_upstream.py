"""The shared HTTP seam over a real socket: the fast plain-http path must speak correct HTTP/1.1.

A scripted asyncio server on 127.0.0.1 records every raw request and answers with canned bytes,
so these tests see exactly what goes over the wire (headers, framing, connection reuse).
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable

import pytest

from rampway.errors import ProviderConnectionError, ProviderTimeout, RateLimited
from rampway.providers._http import Upstream

Answer = Callable[[bytes], bytes | None]  # raw request -> raw response (None: close, no answer)


class Scripted:
    """Answers each request with the next scripted answer; counts connections."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                raw = head + await reader.readexactly(length)
                self.requests.append(raw)
                answer = self.answers.pop(0)(raw)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def reply(status: int, body: bytes, *headers: str) -> Answer:
    extra = "".join(f"{h}\r\n" for h in headers)
    head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode()
    return lambda _raw: head + body


def chunked(*parts: bytes) -> Answer:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return lambda _raw: b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + body


@pytest.fixture
async def upstream_factory() -> AsyncIterator[Callable[[int], Upstream]]:
    made: list[Upstream] = []

    def make(port: int) -> Upstream:
        up = Upstream("sim", f"http://127.0.0.1:{port}/v1",
                      {"content-type": "application/json", "authorization": "Bearer sk-123"},
                      secret="sk-123")
        made.append(up)
        return up

    yield make
    for up in made:
        await up.aclose()


async def test_requests_are_well_formed_and_share_one_keep_alive_connection(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    async with Scripted(reply(200, b'{"a": 1}'), reply(200, b'{"a": 2}')) as srv:
        up = upstream_factory(srv.port)
        first = await up.post("/chat/completions", b'{"x": 1}', model="m", timeout=5)
        second = await up.post("/chat/completions", b'{"x": 22}', model="m", timeout=5)
    assert (json.loads(first), json.loads(second)) == ({"a": 1}, {"a": 2})
    assert srv.connections == 1
    head, _, body = srv.requests[1].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert headers[b"host"] == f"127.0.0.1:{srv.port}".encode()
    assert headers[b"content-length"] == b"9" and body == b'{"x": 22}'
    assert headers[b"authorization"] == b"bearer sk-123"
    assert headers[b"user-agent"].startswith(b"rampway/")
    assert b"accept-encoding" not in headers  # we read bodies raw: never ask for compression


async def test_error_statuses_are_translated_with_retry_after(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    body = b'{"error": {"message": "slow down, key sk-123", "type": "rate_limit"}}'
    async with Scripted(reply(429, body, "retry-after: 2")) as srv:
        with pytest.raises(RateLimited) as caught:
            await upstream_factory(srv.port).post("/chat/completions", b"{}", model="m",
                                                  timeout=5)
    assert caught.value.retry_after == 2.0
    assert "sk-123" not in caught.value.message and "slow down" in caught.value.message


async def test_chunked_and_gzip_bodies_are_decoded(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    packed = gzip.compress(b'{"zipped": true}')
    async with Scripted(chunked(b'{"chun', b'ked": 1}'),
                        reply(200, packed, "content-encoding: gzip")) as srv:
        up = upstream_factory(srv.port)
        assert json.loads(await up.post("/p", b"{}", model="m", timeout=5)) == {"chunked": 1}
        assert json.loads(await up.post("/p", b"{}", model="m", timeout=5)) == {"zipped": True}


async def test_a_post_is_never_sent_twice_when_a_reused_connection_fails(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    # Issue #12: the transport re-sent a POST when a reused connection failed: the request may
    # have reached the upstream (a double-billed model call). The router's policy decides.
    async with Scripted(reply(200, b"{}", "connection: keep-alive"), lambda _raw: None,
                        reply(200, b'{"b": 1}')) as srv:
        up = upstream_factory(srv.port)
        await up.post("/p", b"{}", model="m", timeout=5)
        # the server reads the second request on the pooled connection and drops it unanswered
        with pytest.raises(ProviderConnectionError):
            await up.post("/p", b'{"second": 1}', model="m", timeout=5)
        assert len(srv.requests) == 2  # written once, not again on a fresh connection
        assert json.loads(await up.post("/p", b"{}", model="m", timeout=5)) == {"b": 1}
    assert srv.connections == 2


async def test_an_idle_connection_the_server_closed_is_replaced_before_sending(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    seen: list[bytes] = []

    async def answer_then_close(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # keep-alive timeout: the server closes the idle connection

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    try:
        up = upstream_factory(server.sockets[0].getsockname()[1])
        await up.post("/p", b"{}", model="m", timeout=5)
        await asyncio.sleep(0.05)  # the FIN arrives while the connection sits in the pool
        assert await up.post("/p", b"{}", model="m", timeout=5) == b"{}"
    finally:
        server.close()
    assert len(seen) == 2


async def test_max_connections_caps_the_requests_in_flight(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    # Issue #12: 250 concurrent calls opened 250 upstream connections with a cap of 10.
    open_now = peak = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                await asyncio.sleep(0.02)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_now -= 1
            writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    up = Upstream("sim", f"http://127.0.0.1:{port}/v1", {}, max_connections=3)
    try:
        answers = await asyncio.gather(
            *(up.post("/p", b"{}", model="m", timeout=10) for _ in range(30))
        )
    finally:
        await up.aclose()
        server.close()
    assert answers == [b"{}"] * 30
    assert peak <= 3


async def test_refused_and_silent_upstreams_are_provider_errors(
    upstream_factory: Callable[[int], Upstream],
) -> None:
    async with Scripted() as srv:
        port = srv.port
    with pytest.raises(ProviderConnectionError):
        await upstream_factory(port).post("/p", b"{}", model="m", timeout=2)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(ProviderTimeout):
            await upstream_factory(server.sockets[0].getsockname()[1]).post(
                "/p", b"{}", model="m", timeout=0.3)
        assert loop.time() - t0 < 2
    finally:
        server.close()


@pytest.mark.parametrize("shift", range(0, 40, 3))
async def test_a_key_straddling_the_message_cut_is_redacted_whole(shift: int) -> None:
    # Issue #12: error text was cut to 500 characters before redaction, so a key across the
    # cut leaked all but its last characters.
    from rampway.errors import ProviderAuthError

    key = "sk-proj-" + "A1b2C3d4" * 4
    message = "x" * (480 + shift) + key + " is not valid"
    body = json.dumps({"error": {"message": message, "code": "invalid_api_key"}}).encode()
    async with Scripted(reply(401, body)) as srv:
        up = Upstream("openai", f"http://127.0.0.1:{srv.port}/v1",
                      {"authorization": f"Bearer {key}"}, secret=key)
        with pytest.raises(ProviderAuthError) as info:
            await up.post("/chat/completions", b"{}", model="m", timeout=5)
        await up.aclose()
    text = str(info.value)
    for size in range(8, len(key) + 1):  # no fragment of the key of 8+ characters survives
        assert key[:size] not in text and key[-size:] not in text
