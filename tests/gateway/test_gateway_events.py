"""Served requests and feedback land in the event log (SQLite and PostgreSQL), with retention
and redaction applied; metrics are exported per feature, release and arm."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from gateway_helpers import Proj, feedback_events, gateway_client, make_project, rows
from prometheus_client.parser import text_string_to_metric_families

from rampway.events.model import hash_unit
from rampway.gateway import Runtime


@pytest.fixture
def any_db_proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
async def any_db_client(any_db_proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_client(any_db_proj.project) as served:
        yield served


async def test_request_and_feedback_events_land_in_the_database(
    any_db_client: tuple[httpx.AsyncClient, Runtime], any_db_proj: Proj
) -> None:
    client, rt = any_db_client
    r = await client.post(
        "/v1/chat/completions",
        headers={"x-rampway-unit": "user-42", "x-rampway-attributes": '{"plan": "pro"}'},
        json={"model": "support-bot",
              "messages": [{"role": "user", "content": "My card 4111111111111111 was charged"}],
              "rampway": {"vars": {"customer_name": "Ada"}}},
    )
    assert r.status_code == 200, r.text
    request_id = r.headers["x-request-id"]
    s = await client.post("/v1/chat/completions", json={
        "model": "echo", "stream": True, "messages": [{"role": "user", "content": "2+2?"}]})
    assert s.status_code == 200 and "[DONE]" in s.text
    fb = await client.post("/v1/feedback", json={
        "request_id": request_id, "name": "thumbs_up", "value": 1,
        "time": "2025-11-26T12:00:00Z", "attributes": {"channel": "web"}})
    assert fb.status_code == 202, fb.text
    fb2 = await client.post("/v1/feedback", json={
        "unit": "user-42", "feature": "support-bot", "name": "conversion", "value": 49.9})
    assert fb2.status_code == 202
    await rt.stop()  # graceful stop drains everything

    by_feature = {row.feature: row for row in rows(any_db_proj.db_url)}
    row = by_feature["support-bot"]
    assert row.id == request_id
    assert row.release_id == any_db_proj.v1.id and row.arm == "production"
    assert row.unit_hash == hash_unit("user-42")
    assert row.attributes == {"plan": "pro"}
    assert row.status == "ok" and row.http_status == 200 and row.protocol == "openai"
    assert row.provider == "sim" and row.model == "sim-large" and row.attempts == 1
    assert row.fallback_used is False
    assert row.input_tokens > 0 and row.output_tokens > 0 and row.cost_usd > 0
    assert row.latency_ms > 0 and row.finish_reason == "stop" and row.output_chars > 0
    prompt = json.loads(row.prompt_text)
    assert prompt["messages"][0]["content"] == "My card [REDACTED] was charged"
    assert prompt["vars"] == {"customer_name": "Ada"}
    assert row.response_text

    echo = by_feature["echo"]
    assert echo.stream is True and echo.ttft_ms is not None and echo.ttft_ms <= echo.latency_ms
    assert echo.prompt_text is None and echo.response_text is None  # retention: prompts false
    assert echo.output_tokens > 0

    fbs = {f.name: f for f in rows(any_db_proj.db_url, feedback_events)}
    assert fbs["thumbs_up"].request_id == request_id and fbs["thumbs_up"].value == 1.0
    assert fbs["thumbs_up"].ts == pytest.approx(1764158400.0)
    assert fbs["thumbs_up"].attributes == {"channel": "web"}
    assert fbs["conversion"].unit_hash == hash_unit("user-42")
    assert fbs["conversion"].feature == "support-bot"


async def test_provider_failure_is_an_error_row_and_a_5xx(client: httpx.AsyncClient,
                                                          runtime: Runtime, proj: Proj) -> None:
    sim = runtime.providers.get("sim")
    all_fail = {"faults": {"rate_500": 1.0}}
    sim.patch_config({"models": {m: all_fail for m in ("sim-large", "sim-small", "sim-large-2")}})  # type: ignore[attr-defined]
    r = await client.post("/v1/chat/completions", json={
        "model": "support-bot", "user": "u", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 503, r.text
    assert r.headers["x-should-retry"] == "false"
    assert r.headers["x-rampway-release"] == proj.v1.id
    assert r.json()["error"]["code"] == "server_error"
    assert runtime.writer.flush(5)
    (row,) = rows(proj.db_url)
    assert row.status == "error" and row.http_status == 503 and row.error_code == "server_error"
    assert row.attempts >= 2  # retried and fell back before giving up


async def test_metrics_are_labelled_by_feature_release_and_arm(
    client: httpx.AsyncClient, proj: Proj
) -> None:
    for _ in range(3):
        await client.post("/v1/chat/completions", json={
            "model": "support-bot", "user": "u", "messages": [{"role": "user", "content": "hi"}]})
    await client.post("/v1/chat/completions", json={"model": "nope", "messages": []})
    text = (await client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    base = {"feature": "support-bot", "release": proj.v1.id, "arm": "production"}

    def value(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted({**base, **extra}.items())))]

    route = {"provider": "sim", "model": "sim-large"}  # what answered
    assert value("rampway_requests_total", status="ok", **route) == 3.0
    assert value("rampway_request_latency_seconds_count") == 3.0
    assert value("rampway_tokens_total", kind="output", **route) > 0
    assert value("rampway_tokens_total", kind="input", **route) > 0
    assert value("rampway_cost_usd_total", **route) > 0
    assert samples[("rampway_rejected_total", (("code", "invalid_request_error"),))] == 1.0


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["features"] == 3
