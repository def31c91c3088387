"""A SIGTERM under load loses no events: `rampway serve` as a subprocess, real traffic, signal,
then every request that got a 200 has its row in the database."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml
from gateway_helpers import (
    Proj,
    Served,
    make_project,
    rows,
    serve_env,
    sim_config_data,
    start_serve,
)


def _start(proj: Proj, workers: int) -> Served:
    return start_serve("--project", str(proj.project.root), "--workers", str(workers),
                       env=serve_env())


async def _load(url: str, stop_at: float, served: list[str]) -> int:
    """Keep 16 requests in flight until `stop_at` or until the server stops accepting."""
    failures = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def worker(i: int) -> None:
            nonlocal failures
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                try:
                    r = await client.post("/v1/chat/completions", json={
                        "model": "support-bot", "user": f"user-{i}-{n}",
                        "messages": [{"role": "user", "content": f"question {n} from {i}"}]})
                except httpx.HTTPError:
                    failures += 1
                    await asyncio.sleep(0.01)
                    continue
                if r.status_code == 200:
                    served.append(r.headers["x-request-id"])
                else:
                    failures += 1

        await asyncio.gather(*(worker(i) for i in range(16)))
    return failures


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_load_loses_no_events(tmp_path: Path, workers: int) -> None:
    # A long flush interval: most events are still queued when the signal arrives.
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'r.db'}",
                        gateway={"events": {"flush_interval": 5.0, "batch_size": 10_000}})
    sim = sim_config_data()
    sim["time_scale"] = 0.02  # a few ms per request, so requests are in flight at SIGTERM
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(sim))
    server = _start(proj, workers)
    served: list[str] = []
    try:
        async def scenario() -> None:
            load = asyncio.create_task(_load(server.url, time.monotonic() + 4.0, served))
            await asyncio.sleep(1.5)
            server.proc.send_signal(signal.SIGTERM)
            await load

        asyncio.run(scenario())
    finally:
        code = server.stop()
    # uvicorn re-raises the captured SIGTERM once its graceful shutdown is complete
    assert code in (0, -signal.SIGTERM), server.stderr
    assert "Traceback" not in server.stderr, server.stderr
    assert len(served) > 50, "too little load to make the test meaningful"
    stored = {row.id for row in rows(proj.db_url)}
    missing = set(served) - stored
    assert not missing, f"{len(missing)} of {len(served)} served requests have no event row"
