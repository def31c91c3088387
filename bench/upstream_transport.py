"""Client CPU and latency per upstream call: rampway's `Upstream` vs aiohttp vs httpx.

    .venv/bin/python bench/upstream_transport.py [--requests 3000] [--concurrency 10] [--rounds 3]

Set-up (127.0.0.1): the simulator in a *separate process* (`rampway sim serve --time-scale 0`,
answers at once) so that `time.process_time()` of this process is the client's CPU alone. Each
client sends the same small non-streaming chat completion (`--requests` of them, `--concurrency`
in flight, keep-alive connections, on uvloop as the gateway runs) and reports CPU ms per request
and latency p50/p99. Rounds alternate the clients so that noise from a shared machine hits them
alike; the median round is printed.

Clients:
* `upstream` — `rampway.providers._http.Upstream.post`, the seam the adapters call: for an
  http:// upstream, `FastTransport.exchange` (rampway's own HTTP/1.1 client, `_fasthttp`).
* `fast+httpx` — httpx's client over `FastTransport` (what a streamed call goes through).
* `aiohttp` — a bare `aiohttp.ClientSession` (TCPConnector(limit=concurrency)), the least any
  aiohttp-based transport behind the same seam could cost.
* `httpx` — `Upstream` over httpx's default transport (httpcore), as for https:// upstreams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import httpx

from rampway.providers._fasthttp import FastTransport
from rampway.providers._http import Upstream

BODY = json.dumps({"model": "sim-large", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "What is 12 plus 30?"}]}).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sim-key"}

Post = Callable[[], Awaitable[bytes]]
Client = tuple[Post, Callable[[], Awaitable[None]]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_sim(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "rampway", "sim", "serve", "--port", str(port),
         "--time-scale", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the simulator did not start")


def upstream_client(base: str, concurrency: int, **kwargs: Any) -> Client:
    up = Upstream("sim", base, HEADERS, max_connections=concurrency, **kwargs)

    async def post() -> bytes:
        return await up.post("/chat/completions", BODY, model="sim-large", timeout=10)

    return post, up.aclose


def fast_httpx_client(base: str, concurrency: int) -> Client:
    return upstream_client(base, concurrency, transport=FastTransport(
        max_idle=concurrency, max_connections=concurrency))


def aiohttp_client(base: str, concurrency: int) -> Client:
    session: aiohttp.ClientSession | None = None
    url = base + "/chat/completions"

    async def post() -> bytes:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency), headers=HEADERS)
        async with session.post(url, data=BODY) as resp:
            body = await resp.read()
            resp.raise_for_status()
            return body

    async def close() -> None:
        if session is not None:
            await session.close()

    return post, close


def httpx_client(base: str, concurrency: int) -> Client:
    return upstream_client(base, concurrency, transport=httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=concurrency)))


async def measure(client: Client, requests: int, concurrency: int) -> dict[str, float]:
    post, close = client
    for _ in range(concurrency * 2):  # open the connections, warm the caches
        await post()
    latencies: list[float] = []
    todo = iter(range(requests))

    async def worker() -> None:
        for _ in todo:
            t0 = time.perf_counter()
            await post()
            latencies.append(time.perf_counter() - t0)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await close()
    cuts = statistics.quantiles(latencies, n=100)
    return {"cpu_ms": 1000 * cpu / requests, "p50_ms": 1000 * cuts[49],
            "p99_ms": 1000 * cuts[98], "rps": requests / wall}


def run(coro: Coroutine[Any, Any, dict[str, float]]) -> dict[str, float]:
    try:
        import uvloop  # noqa: PLC0415 - as the gateway runs (uvicorn picks it when present)
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    makers: dict[str, Callable[[], Client]] = {
        "upstream": lambda: upstream_client(base, args.concurrency),
        "fast+httpx": lambda: fast_httpx_client(base, args.concurrency),
        "aiohttp": lambda: aiohttp_client(base, args.concurrency),
        "httpx": lambda: httpx_client(base, args.concurrency),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in makers}
    sim = start_sim(port)
    try:
        for _ in range(args.rounds):
            for name, make in makers.items():
                results[name].append(run(measure(make(), args.requests, args.concurrency)))
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"{args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency}, "
          "sim in its own process (median round by CPU)")
    for name, rounds in results.items():
        mid = sorted(rounds, key=lambda r: r["cpu_ms"])[len(rounds) // 2]
        spread = ", ".join(f"{r['cpu_ms']:.3f}" for r in rounds)
        print(f"{name:10s} cpu/request {mid['cpu_ms']:.3f} ms (rounds {spread})  "
              f"p50 {mid['p50_ms']:.2f} ms  p99 {mid['p99_ms']:.2f} ms  {mid['rps']:.0f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
