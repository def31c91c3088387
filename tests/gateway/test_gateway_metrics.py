"""Prometheus series (issue #17 item 6): provider and model labels on the request, token and
cost series; the series of a release that stopped serving expire after an idle period. Read
back with prometheus_client's own parser."""

from __future__ import annotations

import asyncio

import httpx
from gateway_helpers import Proj
from prometheus_client.parser import text_string_to_metric_families

from rampway.gateway import Runtime
from rampway.gateway.metrics import GatewayMetrics
from rampway.store import Store

ASK = {"model": "support-bot", "user": "u", "messages": [{"role": "user", "content": "hi"}]}
IDLE = 3600.0


async def _labels(client: httpx.AsyncClient, name: str) -> list[dict[str, str]]:
    text = (await client.get("/metrics")).text
    return [s.labels for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


async def _releases(client: httpx.AsyncClient) -> dict[str, set[str]]:
    names = ("rampway_requests_total", "rampway_tokens_total", "rampway_cost_usd_total",
             "rampway_request_latency_seconds_count")
    return {n: {s["release"] for s in await _labels(client, n)} for n in names}


async def test_request_token_and_cost_series_name_provider_and_model(
        client: httpx.AsyncClient, proj: Proj) -> None:
    await client.post("/v1/chat/completions", json=ASK)
    await client.post("/v1/chat/completions", json={**ASK, "model": "echo"})
    for name in ("rampway_requests_total", "rampway_tokens_total", "rampway_cost_usd_total"):
        routes = {(s["release"], s["provider"], s["model"]) for s in await _labels(client, name)}
        assert routes == {(proj.v1.id, "sim", "sim-large"), (proj.echo.id, "sim", "sim-small")}
    latency = await _labels(client, "rampway_request_latency_seconds_count")
    assert all("provider" not in s for s in latency)  # histograms keep their cardinality


async def test_series_of_a_release_no_longer_served_expire_after_the_idle_period(
        client: httpx.AsyncClient, runtime: Runtime, proj: Proj) -> None:
    now = [1000.0]
    runtime.metrics.clock = lambda: now[0]
    assert (await client.post("/v1/chat/completions", json=ASK)).headers[
        "x-rampway-release"] == proj.v1.id
    with Store.open(proj.db_url) as store:
        store.set_channel("support-bot", "production", proj.v2.id, actor="t", reason="v2")
    for _ in range(100):
        served = runtime.watcher.snapshot.features["support-bot"].channels["production"]
        if served.id == proj.v2.id:
            break
        await asyncio.sleep(0.05)
    assert (await client.post("/v1/chat/completions", json=ASK)).headers[
        "x-rampway-release"] == proj.v2.id
    now[0] += IDLE - 1  # v1 no longer served, but not idle long enough yet
    assert all(r == {proj.v1.id, proj.v2.id} for r in (await _releases(client)).values())
    now[0] += 2
    # v1 is gone from every family; v2, idle just as long, still serves and stays
    assert all(r == {proj.v2.id} for r in (await _releases(client)).values())
    await client.post("/v1/chat/completions", json=ASK)
    assert {s["release"] for s in await _labels(client, "rampway_requests_total")} == {
        proj.v2.id}


def test_nothing_expires_without_a_view_of_what_serves() -> None:
    metrics = GatewayMetrics(idle_s=1, clock=lambda: 1e9)
    metrics.series("f", "f@1", "production").route("sim", "m").ok.inc()
    assert metrics.expire() == []
    served: set[str] = set()
    metrics = GatewayMetrics(idle_s=1, serving=lambda: served, clock=lambda: 1e9)
    s = metrics.series("f", "f@1", "production")
    s.route("sim", "m").ok.inc()
    s.error("timeout").inc()
    assert metrics.expire() == [("f", "f@1", "production")]
    text = metrics.render().decode()
    assert "f@1" not in text
