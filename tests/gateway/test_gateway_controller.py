"""The rollout controller inside the gateway: `rampway serve` (one worker or several) and an
in-process `Runtime` walk a time-compressed rollout 20% → 50% → 100% on their own while traffic
flows, and stop cleanly; the loop survives failing looks and `stop` waits for a look."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from gateway_helpers import Proj, make_project, serve_env, start_serve

from rampway.config import load_project
from rampway.errors import ConfigError, StoreError
from rampway.gateway import GatewayApp, Runtime
from rampway.gateway.rollouts import RolloutLoop
from rampway.rollout import Controller, Plan, RolloutRecord, Status, repo
from rampway.store import Store

FEATURE = "support-bot"
PLAN = Plan.model_validate({
    "steps": [{"weight": 20, "dwell": 0}, {"weight": 50, "dwell": 0}, {"weight": 100}],
    "guardrails": [{"metric": "error_rate", "critical": True, "min_sample": 15}],
})


@pytest.fixture
def store(proj: Proj) -> Iterator[Store]:
    opened = Store.open(proj.db_url)
    try:
        yield opened
    finally:
        opened.close()


def _start_rollout(store: Store, proj: Proj) -> RolloutRecord:
    return Controller(store).start(FEATURE, proj.v2.id, plan=PLAN, actor="ana",
                                   skip_gate=True, reason="compressed rollout test")


def _drive(ask: object, store: Store, seconds: float = 60) -> list[int]:
    """Send traffic until the rollout is no longer active; the weights it went through."""
    weights: list[int] = []
    deadline = time.monotonic() + seconds
    n = 0
    while True:
        current = repo.latest(store, FEATURE)
        assert current is not None
        if not weights or weights[-1] != current.weight_bp:
            weights.append(current.weight_bp)
        if not current.status.active:
            assert current.status is Status.COMPLETED, current.reason
            return weights
        assert time.monotonic() < deadline, f"rollout stuck at {current.weight_bp / 100}%"
        for _ in range(10):
            n += 1
            ask(f"user-{n}")  # type: ignore[operator]


def _transitions(store: Store) -> list[tuple[str, str]]:
    entries = reversed(store.list_audit(object_type="rollout", limit=100))
    return [(e.action, e.actor) for e in entries]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_rampway_serve_advances_a_rollout_by_itself(
    proj: Proj, store: Store, workers: int
) -> None:
    served = start_serve("--project", str(proj.project.root), "--workers", str(workers),
                         "--controller-interval", "0.2", env=serve_env())
    try:
        assert "rollout controller: looking every 0.2s" in served.stderr
        _start_rollout(store, proj)
        with httpx.Client(base_url=served.url, timeout=30) as client:

            def ask(unit: str) -> None:
                r = client.post("/v1/chat/completions", json={
                    "model": FEATURE, "user": unit,
                    "messages": [{"role": "user", "content": "Where is my order A-10442?"}]})
                assert r.status_code == 200, r.text

            weights = _drive(ask, store)
    finally:
        code = served.stop()
    assert code in (0, -15), served.stderr
    assert "Traceback" not in served.stderr, served.stderr
    assert weights[-1] == 10_000 and 2000 in weights and 5000 in weights
    assert _transitions(store) == [
        ("rollout.create", "ana"), ("rollout.gate_skipped", "ana"), ("rollout.start", "ana"),
        ("rollout.advance", "rampway-controller"), ("rollout.complete", "rampway-controller"),
    ]
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None and channel.release_id == proj.v2.id


async def test_runtime_with_rollout_interval_runs_the_controller(proj: Proj, store: Store) -> None:
    runtime = Runtime.from_project(proj.project, rollout_interval=0.05)
    assert runtime.rollouts is not None
    await runtime.start()
    try:
        _start_rollout(store, proj)
        transport = httpx.ASGITransport(app=GatewayApp(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            deadline = time.monotonic() + 30
            n = 0
            while (current := repo.latest(store, FEATURE)) is not None and current.status.active:
                assert time.monotonic() < deadline, "the runtime's controller did not finish"
                n += 1
                r = await c.post("/v1/chat/completions", json={
                    "model": FEATURE, "user": f"u-{n}",
                    "messages": [{"role": "user", "content": "hello"}]})
                assert r.status_code == 200
                # the in-process sim answers without ever suspending: let the control
                # watcher (allocations) and the event writer have the loop now and then
                await asyncio.sleep(0.005)
    finally:
        await runtime.stop()
    assert current is not None and current.status is Status.COMPLETED
    assert not runtime.rollouts.running and runtime.rollouts.looks > 0
    assert Runtime.from_project(proj.project, store=store).rollouts is None  # off by default


class _Lease:
    released = False

    def release(self) -> None:
        self.released = True


class _Controller:
    """Stands in for `Controller` (the loop only uses `look`, `lease` and `interval`)."""

    interval = 0.01

    def __init__(self) -> None:
        self.ticks = 0
        self.inside = threading.Event()
        self.release = threading.Event()
        self.lease = _Lease()

    def look(self) -> list[RolloutRecord]:
        return self.tick()

    def tick(self) -> list[RolloutRecord]:
        self.ticks += 1
        if self.ticks == 1:
            raise StoreError("database is down")
        if self.ticks == 2:
            raise RuntimeError("a bug")
        self.inside.set()
        self.release.wait(5)
        return []


def test_loop_survives_failing_looks_and_stop_waits_for_the_look_in_progress() -> None:
    controller = _Controller()
    loop = RolloutLoop(controller)  # type: ignore[arg-type]
    loop.start()
    assert controller.inside.wait(5)  # two failed looks later, a third one is running
    stopper = threading.Thread(target=loop.stop)
    stopper.start()
    time.sleep(0.1)
    assert stopper.is_alive()  # stop waits while the look is still in progress
    controller.release.set()
    stopper.join(5)
    assert not stopper.is_alive() and not loop.running
    assert controller.ticks == 3 and loop.looks == 3
    assert controller.lease.released  # another process's controller may take over


def test_bad_rollouts_section_is_refused_when_the_runtime_is_built(tmp_path: Path) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    config = yaml.safe_load(proj.project.config_path.read_text())
    config["rollouts"] = {"interval": -1}
    proj.project.config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="rollouts.interval"):
        Runtime.from_project(load_project(proj.project.root))


@pytest.mark.parametrize(("setting", "kept_s"), [({}, None),
                                                 ({"retention": "30d"}, 30 * 86400.0),
                                                 ({"retention": None}, None)])
def test_the_runtimes_controller_applies_the_configured_event_retention(
    tmp_path: Path, setting: dict[str, object], kept_s: float | None,
) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}",
                        gateway={"events": setting})
    with Store.open(proj.db_url) as opened:
        loop = Runtime.from_project(proj.project, store=opened, rollout_interval=60).rollouts
        assert loop is not None
        job = loop.controller.retention
        assert (None if job is None else job.retention_s) == kept_s
