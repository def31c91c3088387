"""What the gateway adds: open-loop load through `rampway serve` vs straight to the simulator.

    .venv/bin/python bench/gateway_overhead.py [--rate 300] [--seconds 10] [--workers 1]

Set-up (all on 127.0.0.1, each in its own process): a zero-latency simulator (`rampway sim
serve --time-scale 0`), and `rampway serve` for a temporary project whose `bench` feature is a
pass-through release on that simulator. The load generator sends the same chat request at a fixed
rate (open loop: request i is due at t0 + i/rate whether or not earlier ones finished, so a
stall shows up as latency instead of silently lowering the rate) over keep-alive connections, with
a minimal HTTP/1.1 client so the generator itself stays cheap.

    added latency = percentile(through gateway) - percentile(direct to sim)

The machine is usually shared, so the load runs in `--repeat` rounds (direct, then through the
gateway, back to back) and the figures are the medians over rounds; each round is printed too.
When other work saturates the cores, the tail measures the scheduler rather than rampway: run it
as `chrt -f 10 .venv/bin/python bench/gateway_overhead.py` (root) to put the load generator, the
simulator and the gateway ahead of unrelated processes, and say so with the figures.
It also reports the achieved throughput, the gateway's RSS before and after the load (memory must
stay flat), its CPU per request, how many event rows the gateway wrote once SIGTERM had drained
its queue (every served request must have one), and the SDK's in-process overhead
(AsyncClient.complete vs SimProvider.complete on a zero-latency in-process sim). Targets on a
2-core machine: added p50 <= 1 ms, p99 <= 5 ms at 300 requests/s; SDK p99 <= 300 us.

    .venv/bin/python bench/gateway_overhead.py --shadow [--rate 300] [--seconds 5] [--repeat 2]

Shadow mode: the same rounds with no shadow, then with a shadow mirroring 100% of the requests
to a second release on the same simulator (started through the store; the gateway picks it up
within a second): the served path's added latency must not move beyond the rounds' noise. It
also measures, in-process, the CPU that capture and pair writing cost per mirrored request
beyond the shadow call itself (the hook's decision and enqueue, rendering the request through
the candidate, building the pair row, writing it to SQLite): target <= 0.3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RAMPWAY = str(Path(sys.executable).parent / "rampway")
MESSAGES = [{"role": "user", "content": "What is 12 plus 30?"}]


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([RAMPWAY, "sim", "serve", "--port", str(port), "--time-scale", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, proc)
    return proc, port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"process exited early: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port} after {timeout}s")


def make_project(tmp: Path, sim_port: int) -> Path:
    from rampway.release import load_release
    from rampway.store import Store

    root = tmp / "proj"
    rel_dir = tmp / "releases" / "bench"
    rel_dir.mkdir(parents=True)
    (rel_dir / "release.yaml").write_text(yaml.safe_dump(
        {"provider": "sim", "model": "sim-small", "mode": "passthrough"}))
    root.mkdir()
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    (root / "rampway.yaml").write_text(yaml.safe_dump({
        "database": {"url": db_url},
        "providers": {"sim": {"kind": "sim", "base_url": f"http://127.0.0.1:{sim_port}/v1"}},
        "features": {"bench": {"retention": {"prompts": True}}},
    }))
    release = load_release(rel_dir, feature="bench")
    with Store.open(db_url) as store:
        store.publish("bench", release.digest, release.id, release.canonical, actor="bench",
                      reason="bench")
        store.set_channel("bench", "production", release.id, actor="bench", reason="bench")
    return root


def start_gateway(project: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([RAMPWAY, "serve", "--project", str(project), "--port", str(port),
                             "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    wait_port(port, proc)
    return proc, port


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MiB."""
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        total += int(m.group(1)) / 1024 if m else 0
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    kids = [int(x) for x in raw]
    return kids + [g for k in kids for g in children(k)]


# -- load generator -------------------------------------------------------------------------------


class Conn:
    """One keep-alive HTTP/1.1 connection; requests are sent one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if m is None:
            raise RuntimeError("response without content-length")
        await self.reader.readexactly(int(m.group(1)))
        return status


class Pool:
    """Keep-alive connections, most recently used first.

    After a stall the pool holds more connections than the rate needs; the extra ones sit idle
    until the server's keep-alive timeout closes them. Like any HTTP client, a request that
    finds its reused connection closed before any response byte is sent again on a new one
    (the latency, counted from the due time, includes that).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Conn] = []

    async def request(self, raw: bytes) -> int:
        if self.idle:
            conn = self.idle.pop()
            try:
                return await self._send(conn, raw)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
        conn = Conn(*await asyncio.open_connection("127.0.0.1", self.port))
        return await self._send(conn, raw)

    async def _send(self, conn: Conn, raw: bytes) -> int:
        try:
            status = await conn.request(raw)
        except BaseException:
            conn.writer.close()
            raise
        self.idle.append(conn)
        return status

    def close(self) -> None:
        for c in self.idle:
            c.writer.close()


def raw_request(path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n").encode() + data


async def open_loop(port: int, raw: bytes, rate: float, seconds: float) -> dict[str, Any]:
    """Send `rate` requests per second for `seconds`; latency measured from the due time."""
    pool = Pool(port)
    n = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(i: int) -> None:
        nonlocal errors
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status = await pool.request(raw)
        except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
            errors += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            return
        if status != 200:
            errors += 1
            kinds[str(status)] = kinds.get(str(status), 0) + 1
            return
        latencies.append(loop.time() - due)

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = loop.time() - t0
    pool.close()
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed, "sent": n,
            "error_kinds": kinds}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(res: dict[str, Any]) -> dict[str, Any]:
    lat = res["latencies"]
    return {
        "p50_ms": pct(lat, 0.50) * 1000,
        "p99_ms": pct(lat, 0.99) * 1000,
        "mean_ms": statistics.fmean(lat) * 1000,
        "throughput_rps": len(lat) / res["elapsed"],
        "served": len(lat),
        "errors": res["errors"],
        "error_kinds": res["error_kinds"],
    }


# -- SDK in-process -------------------------------------------------------------------------------


async def sdk_overhead(project: Path, n: int) -> dict[str, float]:
    """AsyncClient.complete vs SimProvider.complete on one in-process zero-latency sim."""
    import rampway
    from rampway.providers.registry import ProviderRegistry
    from rampway.providers.sim import SimProvider, load_sim_config
    from rampway.providers.types import ChatRequest, Message

    sim = SimProvider(load_sim_config().model_copy(update={"time_scale": 0}))
    registry = ProviderRegistry({"sim": sim}, {"sim": "sim"})
    direct_req = ChatRequest(model="sim-small", messages=[Message("user", MESSAGES[0]["content"])])
    async with rampway.AsyncClient(project, providers=registry) as client:
        for _ in range(300):  # warm-up: templates, breakers, catalog lookups
            await client.complete("bench", MESSAGES)
            await sim.complete(direct_req, timeout=10)
        direct: list[float] = []
        via_sdk: list[float] = []
        clock = time.perf_counter
        for _ in range(n):
            t = clock()
            await sim.complete(direct_req, timeout=10)
            direct.append(clock() - t)
            t = clock()
            await client.complete("bench", MESSAGES)
            via_sdk.append(clock() - t)
    # paired: each SDK call is compared with the direct call made just before it
    added = [s - d for s, d in zip(via_sdk, direct, strict=True)]
    return {
        "direct_p50_us": pct(direct, 0.5) * 1e6,
        "sdk_p50_us": pct(via_sdk, 0.5) * 1e6,
        "added_p50_us": pct(added, 0.5) * 1e6,
        "added_p99_us": pct(added, 0.99) * 1e6,
    }


# -- main -----------------------------------------------------------------------------------------


def event_rows(project: Path) -> int:
    """Rows in the bench database's request log (read after the gateway drained and exited)."""
    import sqlalchemy as sa

    from rampway.events.tables import request_events
    from rampway.store import Store

    with Store.open(f"sqlite:///{project.parent / 'bench.db'}") as store, \
            store.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(request_events)) or 0)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def rounds(sim_port: int, gw_port: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """`args.repeat` rounds of (direct, through the gateway), each `args.seconds` long."""
    direct_raw = raw_request("/v1/chat/completions", {"model": "sim-small", "messages": MESSAGES})
    gw_raw = raw_request("/v1/chat/completions", {"model": "bench", "messages": MESSAGES})
    out = []
    for _ in range(args.repeat):
        direct = summary(asyncio.run(open_loop(sim_port, direct_raw, args.rate, args.seconds)))
        through = summary(asyncio.run(open_loop(gw_port, gw_raw, args.rate, args.seconds)))
        out.append({
            "direct": direct,
            "gateway": through,
            "added_p50_ms": through["p50_ms"] - direct["p50_ms"],
            "added_p99_ms": through["p99_ms"] - direct["p99_ms"],
        })
    return out


def median_of(rows: list[dict[str, Any]], *path: str) -> float:
    values = []
    for row in rows:
        value: Any = row
        for key in path:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sim, sim_port = start_sim()
    gw: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="rampway-bench-") as tmp:
            project = make_project(Path(tmp), sim_port)
            gw, gw_port = start_gateway(project, args.workers)
            gw_raw = raw_request("/v1/chat/completions", {"model": "bench", "messages": MESSAGES})
            direct_raw = raw_request("/v1/chat/completions",
                                     {"model": "sim-small", "messages": MESSAGES})
            asyncio.run(open_loop(sim_port, direct_raw, args.rate, args.warmup))
            warm = summary(asyncio.run(open_loop(gw_port, gw_raw, args.rate, args.warmup)))
            rss_before = rss_mb(gw.pid)
            cpu0 = cpu_s(gw.pid)
            per_round = rounds(sim_port, gw_port, args)
            served = sum(int(r["gateway"]["served"]) for r in per_round) + warm["served"]
            gw_cpu_ms = (cpu_s(gw.pid) - cpu0) * 1000 / max(1, args.rate * args.seconds
                                                             * args.repeat)
            rss_after = rss_mb(gw.pid)
            stop(gw)
            rows = event_rows(project)
            sdk = asyncio.run(sdk_overhead(project, args.sdk_calls))
    finally:
        stop(gw)
        stop(sim)
    return {
        "rate_rps": args.rate,
        "seconds": args.seconds,
        "repeat": args.repeat,
        "workers": args.workers,
        "rounds": per_round,
        "added_p50_ms": median_of(per_round, "added_p50_ms"),
        "added_p99_ms": median_of(per_round, "added_p99_ms"),
        "direct_p99_ms": median_of(per_round, "direct", "p99_ms"),
        "gateway_p99_ms": median_of(per_round, "gateway", "p99_ms"),
        "throughput_rps": median_of(per_round, "gateway", "throughput_rps"),
        "gateway_rss_mb": {"before": rss_before, "after": rss_after},
        "gateway_cpu_ms_per_request": gw_cpu_ms,
        "events": {"served": served, "rows": rows},
        "sdk": sdk,
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
    }


# -- shadow mode ----------------------------------------------------------------------------------


def add_candidate(project: Path, sim_port: int) -> str:
    """A second release of `bench` (same model, another temperature) on a simulator of its own
    (a candidate is another upstream: sharing one would slow the primary's upstream down and
    count that as the gateway's doing), published."""
    from rampway.release import load_release
    from rampway.store import Store

    config = yaml.safe_load((project / "rampway.yaml").read_text())
    config["providers"]["sim2"] = {"kind": "sim", "base_url": f"http://127.0.0.1:{sim_port}/v1"}
    (project / "rampway.yaml").write_text(yaml.safe_dump(config))
    rel_dir = project.parent / "releases" / "bench-2" / "bench"
    rel_dir.mkdir(parents=True)
    (rel_dir / "release.yaml").write_text(yaml.safe_dump(
        {"provider": "sim2", "model": "sim-small", "mode": "passthrough",
         "params": {"temperature": 0.7}}))
    release = load_release(rel_dir, feature="bench")
    with Store.open(f"sqlite:///{project.parent / 'bench.db'}") as store:
        store.publish("bench", release.digest, release.id, release.canonical, actor="bench",
                      reason="bench")
    return release.id


def start_shadow(project: Path, candidate: str) -> Any:
    from rampway.shadow import repo
    from rampway.shadow.spec import Definition
    from rampway.store import Store

    definition = Definition.model_validate({
        "feature": "bench", "candidates": [candidate], "sample": 100,
        "budget": {"usd_per_day": 1e6, "requests_per_s": 1e5}})
    with Store.open(f"sqlite:///{project.parent / 'bench.db'}") as store:
        return repo.start(store, "bench-shadow", definition, [candidate], actor="bench",
                          reason="bench", now=time.time())


def shadow_counts(project: Path) -> dict[str, int]:
    from rampway.shadow import repo
    from rampway.shadow.pairs import pair_counts
    from rampway.store import Store

    with Store.open(f"sqlite:///{project.parent / 'bench.db'}") as store:
        record = repo.latest(store, "bench-shadow")
        return {"pairs": pair_counts(store, record)["candidate"], "shed": record.shed,
                "over_budget": record.over_budget}


def capture_cpu(project: Path, n: int) -> float:
    """CPU ms per mirrored request of capture + pair writing, without the shadow call: the
    hook's decision and enqueue, rendering through the candidate, the pair row, its write."""
    from rampway.gateway.call import CallInput, CallRecord
    from rampway.gateway.control import ControlSnapshot, FeatureEntry, FeatureSettings
    from rampway.gateway.keys import KeyRing
    from rampway.gateway.pipeline import build_request
    from rampway.gateway.resolve import Resolution
    from rampway.providers.types import Message, Usage
    from rampway.release import Release
    from rampway.shadow import ActiveShadows, repo
    from rampway.shadow.capture import ShadowCapture
    from rampway.shadow.pairs import PairWriter
    from rampway.store import Store

    with Store.open(f"sqlite:///{project.parent / 'bench.db'}") as store:
        record = repo.latest(store, "bench-shadow")
        channel = store.get_channel("bench", "production")
        assert channel is not None
        primary = Release.from_canonical(store.get_release("bench", channel.release_id).canonical)
        candidate = Release.from_canonical(
            store.get_release("bench", record.candidates[0]).canonical)
        entry = FeatureEntry("bench", FeatureSettings(), {"production": primary})

        class Control:
            snapshot = ControlSnapshot(1, {"bench": entry}, KeyRing.empty(),
                                       shadows=ActiveShadows.of([record]),
                                       shadow_releases={candidate.id: candidate})

        writer = PairWriter(store, flush_interval=0.05)
        capture = ShadowCapture(Control(), None, writer, max_queue=n + 1)  # type: ignore[arg-type]
        res = Resolution(entry, primary, "production")

        async def run() -> float:
            capture.start()
            for task in capture._tasks:  # no shadow calls: only what surrounds them
                task.cancel()
            records = []
            for i in range(n):
                call = CallInput("bench", [Message("user", MESSAGES[0]["content"])],
                                 unit=f"user-{i}")
                rec = CallRecord(call, time.time(), res, content="42", latency_s=0.01,
                                 usage=Usage(10, 2), cost_usd=1e-6)
                rec.provider, rec.model, rec.finish_reason = "sim", "sim-small", "stop"
                records.append(rec)
            writer.start()
            t0 = time.process_time()
            for rec in records:
                capture.after_call(rec)
            queue = capture._queue
            assert queue is not None
            while not queue.empty():
                job = queue.get_nowait()
                build_request(job.resolution, job.primary.call)
                writer.emit(capture._row(job, job.primary))
            assert writer.flush(60)
            return (time.process_time() - t0) * 1000 / n

        try:
            return asyncio.run(run())
        finally:
            writer.close()


def measure_shadow(args: argparse.Namespace) -> dict[str, Any]:
    sim, sim_port = start_sim()
    sim2, sim2_port = start_sim()
    gw: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="rampway-bench-") as tmp:
            project = make_project(Path(tmp), sim_port)
            candidate = add_candidate(project, sim2_port)
            gw, gw_port = start_gateway(project, args.workers)
            gw_raw = raw_request("/v1/chat/completions", {"model": "bench", "messages": MESSAGES,
                                                          "user": "u"})
            asyncio.run(open_loop(gw_port, gw_raw, args.rate, args.warmup))
            off = rounds(sim_port, gw_port, args)
            start_shadow(project, candidate)
            time.sleep(1.0)  # every gateway applies it within a second
            cpu0 = cpu_s(gw.pid)
            on = rounds(sim_port, gw_port, args)
            gw_cpu_ms = (cpu_s(gw.pid) - cpu0) * 1000 / max(1, args.rate * args.seconds
                                                             * args.repeat)
            time.sleep(1.0)
            stop(gw)
            counts = shadow_counts(project)
            per_mirror = capture_cpu(project, args.sdk_calls)
    finally:
        stop(gw)
        stop(sim)
        stop(sim2)
    return {
        "rate_rps": args.rate, "seconds": args.seconds, "repeat": args.repeat,
        "off": {"added_p50_ms": median_of(off, "added_p50_ms"),
                "added_p99_ms": median_of(off, "added_p99_ms"), "rounds": off},
        "on": {"added_p50_ms": median_of(on, "added_p50_ms"),
               "added_p99_ms": median_of(on, "added_p99_ms"), "rounds": on},
        "gateway_cpu_ms_per_request_with_shadow": gw_cpu_ms,
        "shadow": counts,
        "capture_cpu_ms_per_mirrored_request": per_mirror,
        "loadavg_1m": os.getloadavg()[0],
    }


def print_shadow_report(r: dict[str, Any]) -> None:
    print(f"open loop {r['rate_rps']:.0f} req/s, {r['repeat']} rounds of {r['seconds']:.0f} s "
          f"per mode; load average {r['loadavg_1m']:.1f} at the end")
    for mode in ("off", "on"):
        m = r[mode]
        label = "no shadow" if mode == "off" else "100% mirrored"
        print(f"  {label:14s} added p50 {m['added_p50_ms']:6.2f} ms  p99 "
              f"{m['added_p99_ms']:6.2f} ms   (median of rounds)")
        for i, rnd in enumerate(m["rounds"], 1):
            g = rnd["gateway"]
            print(f"    round {i}: added p50 {rnd['added_p50_ms']:6.2f} ms  p99 "
                  f"{rnd['added_p99_ms']:6.2f} ms  {g['throughput_rps']:.1f} req/s  "
                  f"errors {g['errors']}")
    c = r["shadow"]
    print(f"  shadow pairs     {c['pairs']} written, {c['shed']} shed, "
          f"{c['over_budget']} over budget")
    print(f"  gateway CPU      {r['gateway_cpu_ms_per_request_with_shadow']:.2f} ms per request "
          "with the shadow (primary + shadow call + capture)")
    print(f"  capture + pairs  {r['capture_cpu_ms_per_mirrored_request']:.3f} ms CPU per "
          "mirrored request, beyond the shadow call (target 0.3 ms)")


def print_report(r: dict[str, Any]) -> None:
    print(f"open loop {r['rate_rps']:.0f} req/s, {r['repeat']} rounds of {r['seconds']:.0f} s, "
          f"{r['workers']} worker(s); load average {r['loadavg_1m']:.1f} at the end")
    for i, rnd in enumerate(r["rounds"], 1):
        for name in ("direct", "gateway"):
            s = rnd[name]
            print(f"  round {i} {name:8s} p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms  "
                  f"{s['throughput_rps']:6.1f} req/s  errors {s['errors']:.0f} "
                  f"{s['error_kinds'] or ''}")
    print(f"  added latency    p50 {r['added_p50_ms']:7.2f} ms  p99 {r['added_p99_ms']:7.2f} ms"
          f"   (median of rounds; targets: 1 ms / 5 ms)")
    print(f"  throughput       {r['throughput_rps']:.1f} req/s through the gateway")
    rss = r["gateway_rss_mb"]
    print(f"  gateway RSS      {rss['before']:.1f} MiB before, {rss['after']:.1f} MiB after")
    print(f"  gateway CPU      {r['gateway_cpu_ms_per_request']:.2f} ms per request "
          f"(user + system, all workers)")
    ev = r["events"]
    print(f"  event rows       {ev['rows']} for {ev['served']} served requests "
          f"(after SIGTERM drained the queue)")
    sdk = r["sdk"]
    print(f"  SDK in-process   added p50 {sdk['added_p50_us']:.0f} us  "
          f"p99 {sdk['added_p99_us']:.0f} us   (target p99: 300 us)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; figures are their medians")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--sdk-calls", type=int, default=3000)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--shadow", action="store_true",
                    help="shadow mode: no shadow vs 100%% mirrored (see the module docstring)")
    args = ap.parse_args()
    if args.repeat < 1 or args.seconds <= 0 or args.rate <= 0:
        ap.error("--repeat, --seconds and --rate must be positive")
    report = measure_shadow(args) if args.shadow else measure(args)
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.shadow:
        print_shadow_report(report)
    else:
        print_report(report)


if __name__ == "__main__":
    main()
