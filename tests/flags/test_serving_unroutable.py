"""A `.model` override the gateway cannot route never 500s the feature: the unroutable target is
skipped to the release's own chain, counted, and what answered is in the headers and the event.

The flag is written without the write-time check (`FlagStore` without a routing), as a flag
written before a catalog edit would be: serving must hold even then. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, make_project  # noqa: E402

from rampway.events.tables import request_event_rows as request_events  # noqa: E402
from rampway.flags.store import FlagStore  # noqa: E402
from rampway.gateway import GatewayApp, Runtime  # noqa: E402
from rampway.store import Store  # noqa: E402

SKIPS = 'rampway_unroutable_skips_total{model="sim-huge",provider="sim"}'


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Proj, Runtime]]:
    proj = make_project(tmp_path, db_url)
    rt = Runtime.from_project(proj.project)
    await rt.start()
    try:
        yield proj, rt
    finally:
        await rt.stop()


async def _put_flag(proj: Proj, rt: Runtime, definition: dict[str, Any]) -> None:
    with Store.open(proj.db_url) as store:
        FlagStore(store).put("flag", "support-bot.model", definition, actor="t", reason="t")
        version = store.control_version()
    deadline = time.monotonic() + 5
    while rt.watcher.snapshot.version < version:
        assert time.monotonic() < deadline, "the gateway did not reload"
        await asyncio.sleep(0.01)


def _chat(unit: str, plan: str, **extra: Any) -> dict[str, Any]:
    return {"model": "support-bot", "user": unit, "metadata": {"plan": plan},
            "messages": [{"role": "user", "content": "Where is my order?"}], **extra}


def _skips(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(SKIPS):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_unroutable_override_is_served_by_the_release_chain_and_counted(
    runtime: tuple[Proj, Runtime],
) -> None:
    proj, rt = runtime
    await _put_flag(proj, rt, {"type": "string", "default": "sim-large",
                               "rules": [{"condition": {"plan": "free"},
                                          "value": "sim/sim-huge"}]})
    transport = httpx.ASGITransport(app=GatewayApp(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        free = await client.post("/v1/chat/completions", json=_chat("u-free", "free"))
        assert free.status_code == 200, free.text
        assert free.headers["x-rampway-model"] == "sim/sim-large"  # the release's own model
        assert free.headers["x-rampway-override"] == "support-bot.model"
        assert free.headers["x-rampway-release"] == proj.v1.id
        async with client.stream("POST", "/v1/chat/completions",
                                 json=_chat("u-free-2", "free", stream=True)) as s:
            assert s.status_code == 200
            assert s.headers["x-rampway-model"] == "sim/sim-large"
            body = "".join([line async for line in s.aiter_lines()])
        assert body.rstrip().endswith("[DONE]")
        pro = await client.post("/v1/chat/completions", json=_chat("u-pro", "pro"))
        assert pro.status_code == 200 and "x-rampway-override" not in pro.headers
        metrics = (await client.get("/metrics")).text
    assert _skips(metrics) == 2.0  # the two free-tier calls, not the pro one
    rt.writer.flush()
    with Store.open(proj.db_url) as store, store.reading() as conn:
        rows = conn.execute(
            sa.select(request_events.c.unit_hash, request_events.c.provider,
                      request_events.c.model, request_events.c.fallback_used,
                      request_events.c.flags, request_events.c.status)
            .order_by(request_events.c.ts)).all()
    assert [(r.provider, r.model, r.status) for r in rows] == [("sim", "sim-large", "ok")] * 3
    assert [r.fallback_used for r in rows] == [True, True, False]
    assert rows[0].flags["support-bot.model"]["value"] == "sim/sim-huge"
