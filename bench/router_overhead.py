"""The router's own added latency per call, against the in-process zero-latency simulator.

    .venv/bin/python bench/router_overhead.py [--n 20000] [--json] [--check]

Two views of the same thing:

- **own work per call** (the headline): a thin shim around the provider adds up the time spent
  inside the provider during each routed call; `Router.complete` time minus that is what the
  router itself cost for that very call (route, breaker, retry bookkeeping, timeout scope,
  attempt record, cost). Paired per call, so the simulator's own variance cancels out.
- **direct vs routed**: p50/p99 of `SimProvider.complete` called directly and through the
  router, interleaved call by call so both see the same machine load.

Streaming is measured the same way (whole stream, all chunks). Target: p99 < 200 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from rampway.providers.catalog import Catalog
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim import SimProvider, load_sim_config
from rampway.providers.types import ChatRequest, ChatResponse, Message, StreamChunk
from rampway.router import Router, Target

TARGET_P99_US = 200.0
TARGETS = [Target("sim", "sim-small"), Target("sim", "sim-large")]


class TimedProvider:
    """Forwards to the sim and accumulates the nanoseconds spent inside it."""

    def __init__(self, inner: SimProvider) -> None:
        self.name = inner.name
        self.inner = inner
        self.inside_ns = 0

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        t0 = time.perf_counter_ns()
        try:
            return await self.inner.complete(request, timeout=timeout)
        finally:
            self.inside_ns += time.perf_counter_ns() - t0

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        chunks = aiter(self.inner.stream(request, timeout=timeout))
        while True:
            t0 = time.perf_counter_ns()
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                self.inside_ns += time.perf_counter_ns() - t0
                return
            self.inside_ns += time.perf_counter_ns() - t0
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values_ns: list[int]) -> dict[str, float]:
    us = [v / 1000 for v in values_ns]
    return {
        "p50_us": round(pct(us, 0.50), 1),
        "p90_us": round(pct(us, 0.90), 1),
        "p99_us": round(pct(us, 0.99), 1),
        "mean_us": round(statistics.fmean(us), 1),
    }


def requests(n: int) -> list[ChatRequest]:
    """A few distinct prompts, so the sim isn't answering one memoized request."""
    texts = ["What is 17 + 25?", "Classify: 'my parcel never arrived'", "What is 6 * 7?"]
    return [ChatRequest("sim-small", [Message("user", texts[i % 3])], seed=i) for i in range(n)]


async def bench_complete(router: Router, timed: TimedProvider, n: int) -> dict[str, Any]:
    own: list[int] = []
    direct: list[int] = []
    routed: list[int] = []
    for i, req in enumerate(requests(n)):
        if i % 2:  # alternate who goes first: the sim memoizes a little per prompt
            direct.append(await time_direct(timed, req))
        timed.inside_ns = 0
        t0 = time.perf_counter_ns()
        result = await router.complete(req, TARGETS)
        elapsed = time.perf_counter_ns() - t0
        assert result.served_by == TARGETS[0] and result.attempts[0].error is None
        routed.append(elapsed)
        own.append(elapsed - timed.inside_ns)
        if not i % 2:
            direct.append(await time_direct(timed, req))
    return {"own": summary(own), "direct": summary(direct), "routed": summary(routed)}


async def time_direct(timed: TimedProvider, req: ChatRequest) -> int:
    t0 = time.perf_counter_ns()
    await timed.inner.complete(req, timeout=30.0)
    return time.perf_counter_ns() - t0


async def bench_stream(router: Router, timed: TimedProvider, n: int) -> dict[str, Any]:
    own: list[int] = []
    per_chunk: list[int] = []
    for req in requests(n):
        timed.inside_ns = 0
        t0 = time.perf_counter_ns()
        stream = router.stream(req, TARGETS)
        chunks = [c async for c in stream]
        t1 = time.perf_counter_ns()
        assert chunks and stream.served_by == TARGETS[0]
        own.append(t1 - t0 - timed.inside_ns)
        per_chunk.append(own[-1] // len(chunks))
    return {"own": summary(own), "own_per_chunk": summary(per_chunk), "chunks": len(chunks)}


async def run(n: int) -> dict[str, Any]:
    sim = SimProvider(load_sim_config())
    sim.patch_config({"time_scale": 0, "fault_seed": 1})  # no waits; default faults are all 0
    timed = TimedProvider(sim)
    router = Router(ProviderRegistry({"sim": timed}, {"sim": "sim"}), Catalog.bundled())
    warm = max(200, n // 10)
    await bench_complete(router, timed, warm)
    await bench_stream(router, timed, warm // 4)
    gc.collect()
    complete = await bench_complete(router, timed, n)
    stream = await bench_stream(router, timed, max(1000, n // 4))
    return {"n": n, "complete": complete, "stream": stream, "target_p99_us": TARGET_P99_US}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="routed calls to time")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--check", action="store_true", help="exit 1 if p99 misses the target")
    args = parser.parse_args()
    result = asyncio.run(run(args.n))
    own, stream_own = result["complete"]["own"], result["stream"]["own"]
    result["pass"] = own["p99_us"] < TARGET_P99_US
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        c = result["complete"]
        print(f"router overhead, {args.n} calls, in-process zero-latency sim (target p99 < "
              f"{TARGET_P99_US:.0f} µs)")
        print(f"  complete, router's own work : p50 {own['p50_us']:7.1f} µs   "
              f"p99 {own['p99_us']:7.1f} µs")
        chunk = result["stream"]["own_per_chunk"]
        print(f"  stream,   router's own work : p50 {stream_own['p50_us']:7.1f} µs   "
              f"p99 {stream_own['p99_us']:7.1f} µs   (whole stream, 7-30 chunks)")
        print(f"  stream,   per chunk         : p50 {chunk['p50_us']:7.1f} µs   "
              f"p99 {chunk['p99_us']:7.1f} µs")
        print(f"  direct SimProvider.complete : p50 {c['direct']['p50_us']:7.1f} µs   "
              f"p99 {c['direct']['p99_us']:7.1f} µs")
        print(f"  via Router.complete         : p50 {c['routed']['p50_us']:7.1f} µs   "
              f"p99 {c['routed']['p99_us']:7.1f} µs")
        print("  PASS" if result["pass"] else "  FAIL: p99 over target")
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
