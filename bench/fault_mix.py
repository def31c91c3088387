"""Served % and latency under a 30% upstream fault mix, through a real gateway over HTTP.

    .venv/bin/python bench/fault_mix.py [--seconds 20] [--concurrency 20] [--hang-s 30]
    .venv/bin/python bench/fault_mix.py --soak [SECONDS]     # default 3600: leak check

Set-up (127.0.0.1): the simulator over HTTP (`SimServer`, 200 ms median TTFT) whose primary
model fails 30% of calls — 10% 429 (retry-after 0.2 s), 5% 500, 5% 503, 5% hang (`--hang-s`,
30 s by default: longer than any timeout), 5% connection reset — and whose fallback model is
healthy; a gateway (`Runtime` + uvicorn) serving a feature on primary → fallback with the
default `gateway.routing` (deadline 20 s, attempt timeout 10 s, 2 attempts per target) unless
`--timeout`/`--deadline` say otherwise. Closed-loop clients send non-streaming chat requests
for `--seconds`; the report is the share served (HTTP 200), p50/p90/p99/max latency and how
many were served by the fallback. Issue #12 measured p99 31.6 s for this mix before the
routing limits (30 s x 3 attempts on a hung target).

`--soak SECONDS` (one hour when no length is given) runs the same load that long and prints, per
`--window` (60 s), the requests, share served, latency p50/p99 and the RSS of this process (it
holds the gateway, the simulator and the clients, so a leak in any of them shows): flat
columns = no leak, no slow-down. `--trace` (with `--soak`) also starts `tracemalloc` and, at the
end, prints the allocation sites and the gc object types that grew since the end of the first
window (the warm-up), with bytes per request: the way to tell a leak from a bounded cache.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import gc
import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from rampway.config import load_project
from rampway.gateway import GatewayApp, Runtime
from rampway.providers.sim import SimServer, load_sim_config
from rampway.release import load_release
from rampway.store import Store

PRIMARY, FALLBACK = "sim-large", "sim-large-2"
FAULTS = {"rate_429": 0.10, "retry_after_s": 0.2, "rate_500": 0.05, "rate_503": 0.05,
          "rate_hang": 0.05, "rate_reset": 0.05, "rate_midstream_cut": 0.0}
CLEAN = {k: 0.0 for k in FAULTS if k.startswith("rate_")}
ASK = {"model": "bench", "messages": [{"role": "user", "content": "What is 12 plus 30?"}],
       "max_tokens": 20}


def make_project(root: Path, routing: dict[str, Any]) -> Path:
    """A project whose `bench` feature is a pass-through release on PRIMARY → FALLBACK."""
    db = f"sqlite:///{root / '.rampway' / 'rampway.db'}"
    config = {"database": {"url": db}, "providers": {"sim": {"kind": "sim"}},
              "features": {"bench": {"retention": {"prompts": False}}},
              "gateway": {"routing": routing}}
    (root / "rampway.yaml").write_text(yaml.safe_dump(config))
    rel = root / "staging" / "bench"
    rel.mkdir(parents=True)
    spec = {"provider": "sim", "model": PRIMARY, "fallbacks": [FALLBACK], "mode": "passthrough"}
    (rel / "release.yaml").write_text(yaml.safe_dump(spec))
    release = load_release(rel, feature="bench")
    with Store.open(db) as store:
        store.publish("bench", release.digest, release.id, release.canonical, actor="bench",
                      reason="bench")
        store.set_channel("bench", "production", release.id, actor="bench", reason="bench")
    return root


@contextlib.contextmanager
def serve(runtime: Runtime) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(GatewayApp(runtime), log_level="error", lifespan="on",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class Results:
    """(status, latency s, model served, finished at s) per request, stored in columns.

    A list of tuples costs ~190 bytes a request (tuple, two floats, a list slot and a freshly
    decoded model string): an hour's soak put ~10 MiB of the bench's own bookkeeping into the
    RSS it reports. Columns cost 19 bytes, and the model name is kept once.
    """

    def __init__(self) -> None:
        self._status = array.array("H")
        self._latency = array.array("d")
        self._model = array.array("B")
        self._at = array.array("d")
        self._models: list[str] = []

    def append(self, status: int, latency: float, model: str, at: float) -> None:
        if model not in self._models:
            self._models.append(model)
        self._status.append(status)
        self._latency.append(latency)
        self._model.append(self._models.index(model))
        self._at.append(at)

    def __len__(self) -> int:
        return len(self._status)

    def __iter__(self) -> Iterator[tuple[int, float, str, float]]:
        models = self._models
        columns = zip(self._status, self._latency, self._model, self._at, strict=True)
        for status, latency, m, at in columns:
            yield status, latency, models[m], at


def rss_mib() -> float:
    """Resident memory of this process (Linux), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, seconds: float, concurrency: int,
               samples: list[tuple[float, float]] | None = None,
               window: float = 60.0, trace: Tracer | None = None
               ) -> Results:
    """(status, latency s, model served, finished at s) per request, from closed-loop clients;
    with `samples`, (seconds, RSS MiB) is appended at the start and after every `window`;
    with `trace`, it is told the request count after the first window and at the end."""
    out = Results()
    start = time.monotonic()
    end = start + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def client() -> None:
            while time.monotonic() < end:
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/chat/completions", json=ASK)
                except httpx.TransportError:  # counted as not served (status 0), not fatal
                    out.append(0, time.perf_counter() - t0, "", time.monotonic() - start)
                    continue
                model = r.json().get("model", "") if r.status_code == 200 else ""
                out.append(r.status_code, time.perf_counter() - t0, model,
                           time.monotonic() - start)

        async def sampler() -> None:
            assert samples is not None
            while True:
                samples.append((time.monotonic() - start, rss_mib()))
                done = time.monotonic() >= end
                if trace is not None and (len(samples) == 2 or done):
                    trace.mark(len(out))  # after the first window (warm-up) and at the end
                if done:
                    return
                await asyncio.sleep(min(window, max(0.0, end - time.monotonic())))

        extra = [sampler()] if samples is not None else []
        await asyncio.gather(*(client() for _ in range(concurrency)), *extra)
    return out


def sqlite_memory() -> int:
    """Bytes SQLite holds (`sqlite3_memory_used`, process-wide), -1 if not reachable."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return -1
    lib = ctypes.CDLL(name)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


class Tracer:
    """tracemalloc snapshots and gc type counts at two marks (after warm-up, at the end)."""

    def __init__(self, frames: int) -> None:
        sqlite_memory()  # loads ctypes now, not inside the first window's snapshot
        tracemalloc.start(frames)
        self.marks: list[tuple[int, tracemalloc.Snapshot, Counter[str], int]] = []

    def mark(self, requests: int) -> None:
        if len(self.marks) == 2:
            self.marks.pop()
        gc.collect()
        types = Counter(type(o).__name__ for o in gc.get_objects())
        self.marks.append((requests, tracemalloc.take_snapshot(), types, sqlite_memory()))

    def report(self, top: int = 15) -> None:
        if len(self.marks) < 2:
            print("trace: fewer than two marks (run longer than two windows)")
            return
        (n0, snap0, types0, sql0), (n1, snap1, types1, sql1) = self.marks
        n = max(1, n1 - n0)
        keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
        snap0, snap1 = snap0.filter_traces(keep), snap1.filter_traces(keep)
        total = sum(s.size for s in snap1.statistics("filename")) - sum(
            s.size for s in snap0.statistics("filename"))
        print(f"trace: {n} requests between marks, traced heap {total / 2**20:+.2f} MiB "
              f"({total / n:+.0f} B/request)")
        print(f"  SQLite's own heap (outside tracemalloc, page caches included): "
              f"{sql0 / 2**20:.2f} -> {sql1 / 2**20:.2f} MiB ({(sql1 - sql0) / n:+.0f} B/request)")
        print("  top sites by growth (lineno):")
        for st in snap1.compare_to(snap0, "lineno")[:top]:
            frame = st.traceback[0]
            print(f"  {st.size_diff / n:+8.1f} B/req {st.count_diff:+8d} blocks  "
                  f"{frame.filename}:{frame.lineno}")
        print("  top stacks by growth (traceback):")
        for st in snap1.compare_to(snap0, "traceback")[:5]:
            print(f"  {st.size_diff / n:+8.1f} B/req {st.count_diff:+8d} blocks")
            for line in st.traceback.format(most_recent_first=True)[:12]:
                print(f"      {line}")
        print("  gc object types by growth:")
        grown = Counter({k: types1[k] - types0.get(k, 0) for k in types1})
        for name, d in grown.most_common(top):
            if d > 0:
                print(f"  {d:+8d} {name} ({d / n:.3f}/request)")


def report_windows(results: Iterable[tuple[int, float, str, float]],
                   samples: list[tuple[float, float]], window: float) -> None:
    """One line per window: requests, served %, p50/p99 and the RSS at its end."""
    print(f"{'window':>8} {'requests':>8} {'served':>7} {'p50 s':>7} {'p99 s':>7} {'RSS MiB':>8}")
    results = list(results)
    n = max(1, int(max(r[3] for r in results) // window) + 1)
    for i in range(n):
        rows = [r for r in results if i * window <= r[3] < (i + 1) * window]
        if not rows:
            continue
        lat = sorted(r[1] for r in rows)
        rss = [m for t, m in samples if t <= (i + 1) * window + 1]
        served = 100 * sum(r[0] == 200 for r in rows) / len(rows)
        until = (i + 1) * window
        print(f"{int(until // 60):>5d}:{int(until % 60):02d} {len(rows):>8} {served:>6.2f}% "
              f"{pct(lat, 50):>7.3f} {pct(lat, 99):>7.3f} {rss[-1]:>8.1f}")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--hang-s", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=None, help="gateway.routing.timeout")
    ap.add_argument("--deadline", type=float, default=None, help="gateway.routing.deadline")
    ap.add_argument("--soak", type=float, nargs="?", const=3600.0, default=None,
                    metavar="SECONDS", help="run this long, report per window (default 3600)")
    ap.add_argument("--window", type=float, default=60.0, help="soak report window, seconds")
    ap.add_argument("--trace", type=int, nargs="?", const=10, default=None, metavar="FRAMES",
                    help="with --soak: tracemalloc (FRAMES deep, 10) + gc growth after warm-up")
    args = ap.parse_args()
    if args.trace is not None and args.soak is None:
        print("fault_mix: --trace needs --soak", file=sys.stderr)
        return 2
    tracer = Tracer(args.trace) if args.trace is not None else None
    seconds = args.seconds if args.soak is None else args.soak
    samples: list[tuple[float, float]] | None = None if args.soak is None else []
    routing = {k: v for k, v in (("timeout", args.timeout), ("deadline", args.deadline))
               if v is not None}
    sim = load_sim_config().model_dump(mode="json")
    sim["fault_seed"] = 7
    sim["models"][PRIMARY]["faults"] = {**sim["models"][PRIMARY]["faults"], **FAULTS,
                                        "hang_s": args.hang_s}
    sim["models"][FALLBACK]["faults"] = {**sim["models"][FALLBACK]["faults"], **CLEAN}
    for model in (PRIMARY, FALLBACK):
        sim["models"][model]["latency"] = {**sim["models"][model].get("latency", {}),
                                           "ttft_median_s": 0.2}
    with tempfile.TemporaryDirectory() as tmp, \
            SimServer(type(load_sim_config()).model_validate(sim)) as srv:
        project = load_project(make_project(Path(tmp), routing))
        runtime = Runtime.from_project(project, sim_url=srv.openai_base_url)
        with serve(runtime) as url:
            columns = asyncio.run(load(url, seconds, args.concurrency, samples, args.window,
                                     tracer))
        outcomes = srv.stats()["models"][PRIMARY]["outcomes"]
    results = list(columns)
    latencies = sorted(r[1] for r in results)
    served = [r for r in results if r[0] == 200]
    statuses = Counter(r[0] for r in results)
    print(f"requests {len(results)}  served {100 * len(served) / len(results):.2f}%  "
          f"statuses {dict(statuses)}")
    print(f"latency s  p50 {pct(latencies, 50):.3f}  p90 {pct(latencies, 90):.3f}  "
          f"p99 {pct(latencies, 99):.3f}  max {latencies[-1]:.3f}")
    print(f"served by fallback {sum(r[2] == FALLBACK for r in served)}  "
          f"primary outcomes {dict(outcomes)}")
    if samples is not None:
        print(f"soak {seconds:.0f} s, RSS at start {samples[0][1]:.1f} MiB")
        report_windows(results, samples, args.window)
    if tracer is not None:
        tracer.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
