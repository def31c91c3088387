"""How fast a channel move reaches every gateway of a fleet on one control database.

    .venv/bin/python bench/fleet_propagation.py [--gateways 1 4 8 16] [--moves 10] [--json]
                                                [--db postgres|sqlite]

Set-up (all on 127.0.0.1, each in its own process): one zero-latency simulator and N
`rampway serve` processes (one worker each) of one temporary project on one database (a scratch
PostgreSQL database by default, dropped afterwards), its `bench` feature with two published
releases on that simulator. Each move sets `production` to the other release (the store's
`set_channel`, as `rampway channel set` does) and, from the moment it committed, every gateway
is asked in turn, over a kept-alive connection, which release it serves (`x-rampway-release`)
until all N serve the new one. A gateway learns of a move by polling the control version
(`gateway.reload_interval`, 0.25 s by default), so a move should take at most that plus one
reload, whatever N: this bench checks that the poll stays cheap as the fleet grows.

Printed per fleet size: the delay until the last gateway served the new release (median and
worst over the moves), the median over gateways, and the connections the fleet holds on
PostgreSQL (`pg_stat_activity`, `application_name = 'rampway'`) at rest after the moves. The
issue's target: ≤ 1 s for N gateways (4 gateways took 130–250 ms when it was filed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_overhead import free_port, start_sim, stop, wait_port  # noqa: E402
from judge_look import database  # noqa: E402

from rampway.release import load_release  # noqa: E402
from rampway.store import Store  # noqa: E402

RAMPWAY = str(Path(sys.executable).parent / "rampway")
CHAT = {"model": "bench", "user": "u1", "messages": [{"role": "user", "content": "hi"}]}


def make_project(tmp: Path, sim_port: int, db_url: str) -> tuple[Path, list[str]]:
    """A project whose `bench` feature has two published releases (production = the first)."""
    root = tmp / "proj"
    root.mkdir()
    (root / "rampway.yaml").write_text(yaml.safe_dump({
        "database": {"url": db_url},
        "providers": {"sim": {"kind": "sim", "base_url": f"http://127.0.0.1:{sim_port}/v1"}},
        "features": {"bench": {}},
    }))
    ids = []
    with Store.open(db_url) as store:
        for temperature in (0.0, 0.7):
            rel_dir = tmp / f"releases-{temperature}" / "bench"
            rel_dir.mkdir(parents=True)
            (rel_dir / "release.yaml").write_text(yaml.safe_dump(
                {"provider": "sim", "model": "sim-small", "mode": "passthrough",
                 "params": {"temperature": temperature}}))
            release = load_release(rel_dir, feature="bench")
            store.publish("bench", release.digest, release.id, release.canonical,
                          actor="bench", reason="bench")
            ids.append(release.id)
        store.set_channel("bench", "production", ids[0], actor="bench", reason="bench")
    return root, ids


def start_gateway(project: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A `rampway serve` process (not yet listening: `wait_port`); its output goes to `log`
    (a pipe nobody reads would block a chatty gateway and inflate the delays)."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([RAMPWAY, "serve", "--project", str(project), "--port",
                                 str(port), "--workers", "1"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, port


async def served(client: httpx.AsyncClient) -> str:
    r = await client.post("/v1/chat/completions", json=CHAT)
    r.raise_for_status()
    return r.headers["x-rampway-release"]


async def until_served(client: httpx.AsyncClient, release: str, t0: float,
                       limit: float = 10.0) -> float:
    """Seconds from `t0` until the gateway behind `client` serves `release`."""
    while True:
        if await served(client) == release:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise SystemExit(f"a gateway still serves another release {limit} s after a move")
        await asyncio.sleep(0.005)


async def moves(store: Store, ports: list[int], ids: list[str], n: int) -> list[list[float]]:
    """Per move, each gateway's delay (seconds) from the move's commit to serving it."""
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=10.0) for p in ports]
    try:
        for c in clients:  # every gateway serves the first release before the first move
            await until_served(c, ids[0], time.monotonic())
        delays = []
        for i in range(n):
            target = ids[(i + 1) % 2]
            await asyncio.to_thread(store.set_channel, "bench", "production", target,
                                    actor="bench", reason=f"move {i}")
            t0 = time.monotonic()
            delays.append(list(await asyncio.gather(
                *(until_served(c, target, t0) for c in clients))))
            await asyncio.sleep(0.3)  # moves a poll apart: each is its own reload
        return delays
    finally:
        for c in clients:
            await c.aclose()


def connections(store: Store) -> int | None:
    if store.engine.dialect.name != "postgresql":
        return None
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rampway' "
            "AND datname = current_database()").scalar_one()) - 1  # less this connection


def measure(n_gateways: int, n_moves: int, db: str) -> dict[str, Any]:
    sim, sim_port = start_sim()
    gateways: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, database(db) as db_url:
            root, ids = make_project(Path(tmp), sim_port, db_url)
            ports = []
            for i in range(n_gateways):
                proc, port = start_gateway(root, Path(tmp) / f"gateway-{i}.log")
                gateways.append(proc)  # stopped below even if it never listens
                wait_port(port, proc, timeout=120.0)
                ports.append(port)
            with Store.open(db_url) as store:
                delays = asyncio.run(moves(store, ports, ids, n_moves))
                held = connections(store)
            for proc in gateways:
                stop(proc)
            gateways.clear()
    finally:
        for proc in gateways:
            stop(proc)
        stop(sim)
    last = [max(d) for d in delays]
    return {
        "gateways": n_gateways, "moves": n_moves,
        "last_gateway_ms": {"median": 1000 * statistics.median(last), "max": 1000 * max(last)},
        "per_gateway_median_ms": 1000 * statistics.median([x for d in delays for x in d]),
        "connections": held,
        "load_average": Path("/proc/loadavg").read_text().split()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for n in args.gateways:
        res = measure(n, args.moves, args.db)
        results.append(res)
        if not args.json:
            print(f"{n:>3} gateways: last gateway {res['last_gateway_ms']['median']:.0f} ms "
                  f"median, {res['last_gateway_ms']['max']:.0f} ms worst over {args.moves} "
                  f"moves; a gateway's median {res['per_gateway_median_ms']:.0f} ms; "
                  f"connections {res['connections']}; load {res['load_average']}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
