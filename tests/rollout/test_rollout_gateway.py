"""End to end through the real gateway (in-process ASGI) and the simulator: the gateway splits
traffic by the rollout's allocation, the controller judges the events it wrote, a good
candidate completes, a failing one is rolled back and every request is baseline again."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))

from gateway_helpers import (  # noqa: E402
    Proj,
    fail_model,
    gateway_client,
    make_project,
    rows,
    until,
)
from rollout_helpers import GATEWAY_PLAN, record_verdict  # noqa: E402

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
    return made


@pytest.fixture
async def client(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_client(proj.project) as served:
        yield served


async def _ask(c: httpx.AsyncClient, unit: str) -> httpx.Response:
    r = await c.post("/v1/chat/completions", json={
        "model": FEATURE, "user": unit,
        "messages": [{"role": "user", "content": "Where is my order A-10442?"}]})
    assert r.status_code == 200, r.text
    return r


async def _start(proj: Proj, runtime: Runtime) -> tuple[Store, Controller]:
    store = Store.open(proj.db_url)
    record_verdict(store, proj.v2.id, proj.v1.id)  # v2 passed its gate against production
    controller = Controller(store)
    controller.start(FEATURE, proj.v2.id, plan=PLAN, actor="ana")
    await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is not None)
    return store, controller


async def test_gateway_splits_by_unit_and_a_good_candidate_completes(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = client
    store, controller = await _start(proj, runtime)
    try:
        served: dict[str, set[str]] = {}
        for i in range(120):
            unit = f"user-{i % 60}"  # every unit asks twice
            r = await _ask(c, unit)
            served.setdefault(unit, set()).add(r.headers["x-rampway-release"])
            assert r.headers["x-rampway-arm"] in ("baseline", "candidate")
        assert all(len(releases) == 1 for releases in served.values())  # sticky
        candidates = sum(proj.v2.id in releases for releases in served.values())
        assert 15 < candidates < 45  # ~50%
        assert runtime.writer.flush(5)
        arms = {(r.arm, r.release_id) for r in rows(proj.db_url)}
        assert arms == {("baseline", proj.v1.id), ("candidate", proj.v2.id)}
        controller.tick()
        done = repo.latest(store, FEATURE)
        assert done is not None and done.status is Status.COMPLETED
        await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is None)
        r = await _ask(c, "user-0")
        assert r.headers["x-rampway-release"] == proj.v2.id  # production is the candidate now
        assert r.headers["x-rampway-arm"] == "production"
    finally:
        store.close()


@pytest.mark.parametrize("proj", [True], indirect=True)
async def test_failing_candidate_is_rolled_back_in_every_gateway_within_a_second(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = client
    store, controller = await _start(proj, runtime)
    try:
        for i in range(120):
            await _ask(c, f"user-{i}")
        assert runtime.writer.flush(5)
        controller.tick()
        done = repo.latest(store, FEATURE)
        assert done is not None and done.status is Status.ROLLED_BACK
        assert done.evaluation is not None
        failed = {g["metric"] for g in done.evaluation["guardrails"] if g["verdict"] == "fail"}
        assert "fallback_rate" in failed
        took = await until(lambda: runtime.watcher.snapshot.rollouts.get(FEATURE) is None, 1.0)
        assert took < 1.0
        releases = {(await _ask(c, f"user-{i}")).headers["x-rampway-release"]
                    for i in range(40)}
        assert releases == {proj.v1.id}
        channel = store.get_channel(FEATURE, "production")
        assert channel is not None and channel.release_id == proj.v1.id
    finally:
        store.close()
