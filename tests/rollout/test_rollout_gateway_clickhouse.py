"""End to end with the events in ClickHouse (`events: chdb://…` in rampway.yaml): a rollout
starts, the real gateway (in-process ASGI, simulator upstreams) splits traffic and writes its
events to the embedded engine and the judge's roll-up to the main database, and the gateway's
own controller judges from that roll-up — a good candidate completes, a failing one is rolled
back. The main database holds no event."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))

from gateway_helpers import (  # noqa: E402
    Proj,
    count_rows,
    fail_model,
    gateway_client,
    make_project,
    until,
)
from rollout_helpers import GATEWAY_PLAN, record_verdict  # noqa: E402

from rampway.config import load_project  # noqa: E402
from rampway.gateway import Runtime  # noqa: E402
from rampway.rollout import Controller, Status, repo  # noqa: E402
from rampway.store import Store  # noqa: E402

FEATURE = "support-bot"
PLAN = GATEWAY_PLAN


@pytest.fixture
def proj(tmp_path: Path, request: pytest.FixtureRequest) -> Proj:
    made = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}")
    if getattr(request, "param", False):  # the candidate's model (sim-small) always fails
        fail_model(tmp_path, "sim-small")
    config = yaml.safe_load(made.project.config_path.read_text())
    config["events"] = "chdb://.rampway/events"
    made.project.config_path.write_text(yaml.safe_dump(config))
    made.project = load_project(made.project.root)
    return made


@pytest.fixture
async def served(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The gateway with its rollout controller (one look at start, then hourly: the test
    calls the next looks itself)."""
    async with gateway_client(proj.project, rollout_interval=3600) as served:
        yield served


async def _ask(c: httpx.AsyncClient, unit: str) -> httpx.Response:
    r = await c.post("/v1/chat/completions", json={
        "model": FEATURE, "user": unit,
        "messages": [{"role": "user", "content": "Where is my order A-10442?"}]})
    assert r.status_code == 200, r.text
    return r


async def _start_and_serve(proj: Proj, c: httpx.AsyncClient, runtime: Runtime) -> Store:
    store = Store.open(proj.db_url)
    record_verdict(store, proj.v2.id, proj.v1.id)
    # the project's view: `events:` set — accepted now that the judge reads ClickHouse
    Controller(store, project=proj.project).start(FEATURE, proj.v2.id, plan=PLAN, actor="ana")
    await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is not None)
    for i in range(160):
        await _ask(c, f"user-{i % 80}")
    assert runtime.writer.flush(5)
    assert runtime.rollouts is not None
    await asyncio.to_thread(runtime.rollouts.look)
    return store


async def test_a_good_candidate_completes_on_events_in_clickhouse(
    served: tuple[httpx.AsyncClient, Runtime], proj: Proj,
) -> None:
    c, runtime = served
    store = await _start_and_serve(proj, c, runtime)
    try:
        assert runtime.rollouts is not None
        # the gateway's ClickHouse sink kept the judge's roll-up in the main database: the
        # look read it there (its guard seconds from ClickHouse), not the whole window
        looks = runtime.rollouts.controller.looks
        assert looks["rollup"] >= 1 and "clickhouse" not in looks, looks
        done = repo.latest(store, FEATURE)
        assert done is not None and done.status is Status.COMPLETED, done.evaluation
        assert done.evaluation is not None
        counted = {g["metric"]: g["n_baseline"] + g["n_candidate"]
                   for g in done.evaluation["guardrails"]}
        assert counted["error_rate"] == 160
        await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is None)
        assert (await _ask(c, "user-0")).headers["x-rampway-release"] == proj.v2.id
        assert count_rows(proj.db_url) == 0  # every event went to ClickHouse
    finally:
        store.close()


@pytest.mark.parametrize("proj", [True], indirect=True)
async def test_a_failing_candidate_is_rolled_back_on_events_in_clickhouse(
    served: tuple[httpx.AsyncClient, Runtime], proj: Proj,
) -> None:
    c, runtime = served
    store = await _start_and_serve(proj, c, runtime)
    try:
        done = repo.latest(store, FEATURE)
        assert done is not None and done.status is Status.ROLLED_BACK, done
        assert done.evaluation is not None
        failed = {g["metric"] for g in done.evaluation["guardrails"] if g["verdict"] == "fail"}
        assert "fallback_rate" in failed
        await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is None)
        releases = {(await _ask(c, f"user-{i}")).headers["x-rampway-release"]
                    for i in range(20)}
        assert releases == {proj.v1.id}
    finally:
        store.close()


async def test_the_admin_api_status_looks_at_the_gateways_own_event_log(
    served: tuple[httpx.AsyncClient, Runtime], proj: Proj, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A status request evaluates the active rollout on the gateway's ClickHouse store: it
    opens no second handle (which nothing would close; with chdb another session on the same
    directory) — opening one here fails the test."""
    from rampway.admin.keys import Role, create_admin_key
    from rampway.events import clickhouse

    c, runtime = served
    store = Store.open(proj.db_url)
    try:
        record_verdict(store, proj.v2.id, proj.v1.id)
        Controller(store, project=proj.project).start(FEATURE, proj.v2.id, plan=PLAN,
                                                      actor="ana")
        await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is not None)
        for i in range(60):
            await _ask(c, f"user-{i % 30}")
        assert runtime.writer.flush(5)
        _, key = create_admin_key(store, "ops", Role.ADMIN, actor="ana", reason="test")

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("a second ClickHouse handle was opened")

        monkeypatch.setattr(clickhouse, "open_events", refuse)
        r = await c.get(f"/api/v1/rollouts/{FEATURE}",
                        headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        counted = {g["metric"]: g["n_baseline"] + g["n_candidate"]
                   for g in r.json()["evaluation"]["guardrails"]}
        assert counted["error_rate"] == 60
    finally:
        store.close()
