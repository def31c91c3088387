"""Shadow capture end to end through the real gateway (in-process ASGI), the simulator and the
SDK, on both databases: the served answer and its event row are the same with or without a
shadow; a failing, hanging candidate never reaches the client; a full queue and the budget caps
shed shadow work and count it; sampling is sticky per unit; a stop reaches the gateway within
a second; streamed primaries are mirrored too (with the shadow's own TTFT)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_helpers import Proj, first_use_migrates, make_project, rows, sim_config_data
from shadow_helpers import FEATURE, pairs, start, until

import rampway
from rampway.events.tables import request_events
from rampway.gateway import GatewayApp, Runtime
from rampway.router import Target
from rampway.shadow import load_pairs, repo
from rampway.shadow.views import status_json
from rampway.store import Store

VOLATILE = {"id", "ts", "latency_ms", "ttft_ms"}


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    # max_lag: a shared test machine runs the loop late often; one test sets it to shed
    return make_project(tmp_path, db_url, gateway={
        "events": {"flush_interval": 0.05}, "shadow": {"flush_interval": 0.05, "max_lag": 10}})


def _fault(tmp_path: Path, **faults: dict[str, float]) -> None:
    """Give simulated models faults (before the runtime is built: the sim reads it then);
    keyword = model name with '_' for '-'."""
    config = sim_config_data()
    for model, given in faults.items():
        config["models"][model.replace("_", "-")]["faults"].update(given)
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


async def _gateway(proj: Proj, **shadow: Any) -> tuple[httpx.AsyncClient, Runtime]:
    runtime = Runtime.from_project(proj.project)
    for name, value in shadow.items():  # queue bounds for the shedding test
        setattr(runtime.shadow, f"_{name}", value)
    await runtime.start()
    transport = httpx.ASGITransport(app=GatewayApp(runtime))
    return httpx.AsyncClient(transport=transport, base_url="http://gw"), runtime


@pytest.fixture
async def gw(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    client, runtime = await _gateway(proj)
    try:
        yield client, runtime
    finally:
        await client.aclose()
        await runtime.stop()


async def _ask(c: httpx.AsyncClient, unit: str, *, stream: bool = False) -> httpx.Response:
    body: dict[str, Any] = {"model": FEATURE, "user": unit, "stream": stream,
                            "messages": [{"role": "user", "content": "Where is my order A-17?"}]}
    r = await c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return r


def _answer(r: httpx.Response) -> Any:
    doc = r.json()
    return [c["message"] for c in doc["choices"]], doc["usage"], r.headers["x-rampway-release"]


async def _running(runtime: Runtime, n: int = 1) -> None:
    await until(lambda: len(runtime.watcher.snapshot.shadows.for_feature(FEATURE)) == n)


async def _mirrored(runtime: Runtime, n: int | None = None) -> None:
    """Until `n` shadow calls are done (None: all those queued so far), and their pairs stored."""
    if n is None:
        await runtime.shadow.drain()
    else:
        await until(lambda: runtime.shadow.mirrored >= n)
    assert runtime.shadow.writer.flush(5)


async def test_the_primary_answer_and_its_event_row_are_unchanged_by_shadowing(
    gw: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = gw
    before = await _ask(c, "user-1")
    record = start(proj, twin=100)
    await _running(runtime)
    during = await _ask(c, "user-1")
    assert _answer(during) == _answer(before)
    await _mirrored(runtime, 2)
    assert runtime.writer.flush(5)
    events = sorted(rows(proj.db_url), key=lambda e: e.ts)
    assert len(events) == 2  # no event row for a shadow call
    plain, shadowed = ({k: v for k, v in e._mapping.items() if k not in VOLATILE}
                       for e in events)
    assert shadowed == plain
    found = pairs(proj.db_url)
    assert {(p.kind, p.release_id) for p in found} == {("candidate", proj.v2.id),
                                                     ("twin", proj.v1.id)}
    assert {p.request_id for p in found} == {events[1].id}
    assert all(p.status == "ok" and p.output_chars > 0 for p in found)
    with Store.open(proj.db_url) as store:
        loaded = list(load_pairs(store, record.name))
    assert len(loaded) == 2
    candidate = next(p for p in loaded if p.kind == "candidate")
    assert candidate.primary.text == events[1].response_text
    assert candidate.mirrored.text and candidate.mirrored.output_tokens > 0
    assert candidate.request_excerpt == "Where is my order A-17?"


async def test_a_failing_then_hanging_candidate_never_reaches_the_client(
    proj: Proj, tmp_path: Path
) -> None:
    # v2's model fails at once, and its fallback hangs
    _fault(tmp_path, sim_small={"rate_500": 1.0}, sim_large_2={"rate_hang": 1.0, "hang_s": 5.0})
    c, runtime = await _gateway(proj)
    try:
        baseline = await _ask(c, "user-1")
        start(proj, timeout="0.3s")
        await _running(runtime)
        t0 = time.monotonic()
        for _ in range(3):
            assert _answer(await _ask(c, "user-1")) == _answer(baseline)
        assert time.monotonic() - t0 < 1.0  # three answers while each shadow call fails/hangs
        await _mirrored(runtime, 3)
        found = pairs(proj.db_url)
        assert len(found) == 3 and {(p.status, p.error_code) for p in found} == {
            ("error", "timeout")}
        # the primary's router (its breakers, its retries) never saw the candidate's model
        shadow_router = runtime.shadow.pipeline.router
        assert shadow_router is not runtime.router
        assert Target("sim", "sim-small") in shadow_router._resolved
        assert Target("sim", "sim-small") not in runtime.router._resolved
    finally:
        await c.aclose()
        await runtime.stop()


async def test_a_full_queue_sheds_shadow_work_and_counts_it(proj: Proj, tmp_path: Path) -> None:
    _fault(tmp_path, sim_small={"rate_hang": 1.0, "hang_s": 5.0})
    c, runtime = await _gateway(proj, max_queue=2, workers=1)
    try:
        record = start(proj, timeout="3s")
        await _running(runtime)
        t0 = time.monotonic()
        for i in range(8):
            assert _answer(await _ask(c, f"user-{i}"))
        assert time.monotonic() - t0 < 2.0  # all while the first shadow call hangs
        # one call in flight, two queued, five shed
        assert runtime.shadow.queued == 2
        await until(lambda: runtime.shadow.writer.flush(1), 5)
        with Store.open(proj.db_url) as store:
            assert repo.latest(store, record.name).shed == 5
        metrics = (await c.get("/metrics")).text
        assert 'rampway_shadow_skipped_total{reason="shed",shadow="v2-on-prod"} 5.0' in metrics
    finally:
        await c.aclose()
        await runtime.stop()  # queued shadow work is cancelled after a short grace


async def test_budget_caps_stop_mirroring_and_status_says_so(
    gw: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = gw
    per_s = start(proj, "per-second", budget={"usd_per_day": 100, "requests_per_s": 2})
    start(proj, "per-day", budget={"usd_per_day": 1e-9})
    await _running(runtime, 2)
    await _ask(c, "user-0")
    await _mirrored(runtime)  # the day's cap is spent by this first call
    for i in range(1, 10):
        await _ask(c, f"user-{i}")
    await _mirrored(runtime)
    counted = Counter(p.shadow for p in pairs(proj.db_url))
    assert counted["per-second"] <= 3  # a burst of 2, then 2/s
    assert counted["per-day"] == 1  # its first call spent more than the day's cap
    with Store.open(proj.db_url) as store:
        assert repo.latest(store, "per-second").over_budget == 10 - counted["per-second"]
        capped = repo.latest(store, "per-day")
        assert capped.over_budget == 9 and capped.budget_hit_at is not None
        assert status_json(store, capped, time.time())["state"] == "over-budget"
        assert status_json(store, per_s, time.time())["state"] == "mirroring"


async def test_sampling_is_sticky_per_unit(
    gw: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = gw
    start(proj, sample=50)
    await _running(runtime)
    for _ in range(3):
        for i in range(40):
            await _ask(c, f"user-{i}")
    await _mirrored(runtime)
    per_unit = Counter(p.unit_hash for p in pairs(proj.db_url))
    assert set(per_unit.values()) == {3}  # every request of a sampled unit, none of the others
    assert 8 <= len(per_unit) <= 32  # ~50% of 40 units


async def test_streams_are_mirrored_and_a_stop_reaches_the_gateway_within_a_second(
    gw: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = gw
    record = start(proj)
    await _running(runtime)
    r = await _ask(c, "user-1", stream=True)
    assert "data: [DONE]" in r.text
    await _mirrored(runtime, 1)
    (pair,) = pairs(proj.db_url)  # the shadow call streamed too: its own TTFT
    assert pair.status == "ok" and pair.ttft_ms is not None and pair.output_chars > 0
    runtime.shadow._max_lag = -1.0  # as if the loop ran late: shadow work is shed first
    await _ask(c, "user-1")
    await until(lambda: runtime.shadow.writer.flush(1), 5)
    with Store.open(proj.db_url) as store:
        assert repo.latest(store, record.name).shed == 1
    with Store.open(proj.db_url) as store:
        repo.stop(store, record, actor="ana", reason="done", now=time.time())
    took = await until(lambda: not runtime.watcher.snapshot.shadows.for_feature(FEATURE), 1.0)
    assert took < 1.0
    for i in range(5):
        await _ask(c, f"user-{i}")
    assert runtime.shadow.writer.flush(5) and runtime.writer.flush(5)
    assert len(pairs(proj.db_url)) == 1
    assert len(rows(proj.db_url, request_events)) == 7


def test_the_sdk_mirrors_too(tmp_path: Path) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'sdk.db'}",  # storage: tests above
                        gateway={"shadow": {"max_lag": 10}})
    start(proj, condition={"plan": "pro"})
    with rampway.Client(proj.project) as client:
        runtime = client.runtime
        deadline = time.monotonic() + 5
        while not runtime.watcher.snapshot.shadows.for_feature(FEATURE):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for plan in ("free", "pro", "free", "pro"):
            out = client.complete(FEATURE, input="hi", unit="user-1",
                                  attributes={"plan": plan})
            assert out.release_id == proj.v1.id
        deadline = time.monotonic() + 5
        while runtime.shadow.mirrored < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert runtime.shadow.writer.flush(5)
    assert len(pairs(proj.db_url)) == 2  # only the `plan: pro` calls met the condition


async def test_shadow_report_compares_the_captured_pairs_through_the_cli(
    gw: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    import json

    from typer.testing import CliRunner

    import rampway.cli._register  # noqa: F401  (attaches the sub-commands)
    from rampway.cli import app

    c, runtime = gw
    record = start(proj, sample=100, twin=50)
    await _running(runtime)
    for i in range(12):
        await _ask(c, f"user-{i % 6}")
    await _mirrored(runtime)
    assert runtime.writer.flush(5)
    cli = CliRunner()
    root = str(proj.project.root)
    out = cli.invoke(app, ["shadow", "report", record.name, "--json", "--project", root])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["pairs"]["candidate"] == 12 and doc["pairs"]["twin"] > 0
    assert doc["name"] == record.name and doc["verdict_line"]
    out = cli.invoke(app, ["shadow", "report", record.name, "--format", "md", "--project", root])
    assert out.exit_code == 0 and doc["verdict_line"] in out.stdout
    out = cli.invoke(app, ["shadow", "report", record.name, "--format", "pdf", "--project", root])
    assert out.exit_code == 2 and "--format" in out.output
