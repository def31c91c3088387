"""End to end through the real gateway (in-process ASGI) and the simulator, and through the SDK:
a running experiment serves each unit its arm's release, sticky, split as defined, labelled with
the arm's name in `x-rampway-arm` and on the event rows; coverage and unit-less requests stay
outside it; stopping returns everyone to production in every gateway within a second."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import (
    Proj,
    first_use_migrates,
    gateway_client,
    make_project,
    rows,
    until,
    write_release,
)

import rampway
from rampway.experiments import Definition, ExperimentRecord, repo
from rampway.gateway import Runtime
from rampway.release import load_release
from rampway.store import Store

FEATURE = "support-bot"


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
async def client(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_client(proj.project) as served:
        yield served


def _start(db_url: str, arms: list[dict[str, Any]], releases: list[str],
           feature: str = FEATURE, coverage: float = 100) -> ExperimentRecord:
    definition = Definition.model_validate({
        "feature": feature, "arms": arms, "coverage": coverage, "primary": "error_rate"})
    with Store.open(db_url) as store:
        return repo.start(store, "tone", definition, releases, actor="ana", reason="test",
                          now=time.time())


async def _ask(c: httpx.AsyncClient, unit: str | None, feature: str = FEATURE) -> httpx.Response:
    body: dict[str, Any] = {"model": feature,
                            "messages": [{"role": "user", "content": "Where is my order?"}]}
    if unit is not None:
        body["user"] = unit
    r = await c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return r


async def test_gateway_serves_both_arms_sticky_and_stop_returns_everyone_to_production(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = client
    record = _start(proj.db_url, [{"name": "control", "release": "production"},
                                  {"name": "friendly", "release": "v2"}],
                    [proj.v1.id, proj.v2.id])
    took = await until(lambda: runtime.watcher.snapshot.experiments.get(FEATURE) is not None)
    assert took < 1.0
    releases = {"control": proj.v1.id, "friendly": proj.v2.id}
    served: dict[str, set[tuple[str, str]]] = {}
    for i in range(160):
        unit = f"user-{i % 80}"  # every unit asks twice
        r = await _ask(c, unit)
        arm, release = r.headers["x-rampway-arm"], r.headers["x-rampway-release"]
        assert releases[arm] == release
        served.setdefault(unit, set()).add((arm, release))
    assert all(len(seen) == 1 for seen in served.values())  # sticky
    friendly = sum(("friendly", proj.v2.id) in seen for seen in served.values())
    assert 22 < friendly < 58  # ~50% of 80 units
    assert runtime.writer.flush(5)
    events = rows(proj.db_url)
    assert {(e.arm, e.release_id) for e in events} == {("control", proj.v1.id),
                                                      ("friendly", proj.v2.id)}
    assert Counter(e.arm for e in events)["friendly"] == 2 * friendly
    with Store.open(proj.db_url) as store:
        exposure = repo.exposure(store, record, time.time() + 1)
        assert exposure["friendly"] == {"requests": 2 * friendly, "units": friendly}
        assert exposure["control"]["units"] == 80 - friendly
        repo.stop(store, record, actor="ana", reason="done", now=time.time())
    took = await until(lambda: runtime.watcher.snapshot.experiments.get(FEATURE) is None, 1.0)
    assert took < 1.0
    for i in range(40):
        r = await _ask(c, f"user-{i}")
        assert (r.headers["x-rampway-arm"], r.headers["x-rampway-release"]) == (
            "production", proj.v1.id)


def _second_echo(proj: Proj, tmp: Path) -> str:
    """Another release of `echo` (on sim-large), published: the control of the echo test."""
    spec = {"provider": "sim", "model": "sim-large", "mode": "passthrough"}
    release = load_release(write_release(tmp / "e2", "echo", spec, {}), feature="echo")
    with Store.open(proj.db_url) as store:
        store.publish("echo", release.digest, release.id, release.canonical, actor="test",
                      reason="test")
    return release.id


async def test_coverage_and_unit_less_requests_stay_outside_the_experiment(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj, tmp_path: Path
) -> None:
    c, runtime = client
    control = _second_echo(proj, tmp_path)
    _start(proj.db_url, [{"name": "a", "release": "x"}, {"name": "b", "release": "y"}],
           [control, proj.echo.id], feature="echo", coverage=40)
    await until(lambda: runtime.watcher.snapshot.experiments.get("echo") is not None)
    arms = Counter()
    for i in range(200):
        r = await _ask(c, f"user-{i}", "echo")
        arm, release = r.headers["x-rampway-arm"], r.headers["x-rampway-release"]
        assert release == {"a": control, "b": proj.echo.id, "production": proj.echo.id}[arm]
        arms[arm] += 1
    assert 50 < arms["a"] + arms["b"] < 110 and arms["production"] > 90  # ~40% covered
    for _ in range(5):  # no unit: the control's release, not counted in any arm
        r = await _ask(c, None, "echo")
        assert (r.headers["x-rampway-arm"], r.headers["x-rampway-release"]) == (
            "production", control)
    r = await _ask(c, "user-1")  # another feature is untouched
    assert r.headers["x-rampway-arm"] == "production"


def test_sdk_serves_the_same_arms(proj: Proj) -> None:
    record = _start(proj.db_url, [{"name": "control", "release": "production"},
                                  {"name": "friendly", "release": "v2"}],
                    [proj.v1.id, proj.v2.id])
    with rampway.Client(proj.project) as client:
        for i in range(30):
            out = client.complete(FEATURE, input="hi", unit=f"user-{i}")
            assert out.arm in ("control", "friendly")
            assert out.release_id == record.arm(out.arm).release_id
            assert client.complete(FEATURE, input="again", unit=f"user-{i}").arm == out.arm
    events = rows(proj.db_url)
    assert len(events) == 60 and {e.arm for e in events} == {"control", "friendly"}
    assert all(e.source == "sdk" for e in events)
