"""The analysis cache of the experiment and shadow pages: served within its TTL without a query,
revalidated by fingerprint after it, recomputed off the request path when the data changed,
and computed once however many viewers arrive at once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Hashable

import httpx
import pytest
from dashboard_client import BASE, sign_in
from dashboard_seed import running_experiment, verbose_shadow
from timeline_seed import seed

from rampway.admin import Role, create_admin_key
from rampway.dashboard import create_dashboard_app
from rampway.dashboard.app import warm_in_background
from rampway.dashboard.cache import AnalysisCache
from rampway.dashboard.experiment_view import cached_experiment_page
from rampway.dashboard.shadow_view import shadow_page
from rampway.events import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A data source whose fingerprint and analysis the tests control, counting the calls."""

    def __init__(self) -> None:
        self.version = 1
        self.fingerprints = 0
        self.computed = 0
        self.gate: threading.Event | None = None

    def fingerprint(self) -> Hashable:
        self.fingerprints += 1
        return self.version

    def compute(self) -> str:
        if self.gate is not None:
            assert self.gate.wait(5)
        self.computed += 1
        return f"analysis of v{self.version}"


def test_within_the_ttl_no_query_after_it_one_fingerprint() -> None:
    clock, src = Clock(), Source()
    cache = AnalysisCache(ttl=10.0, clock=clock)
    first = cache.get("k", src.fingerprint, src.compute)
    clock.now += 9.9
    assert cache.get("k", src.fingerprint, src.compute) is first
    assert (src.fingerprints, src.computed) == (1, 1)
    clock.now += 0.2  # stale, but nothing changed: served, checked, not recomputed
    assert cache.get("k", src.fingerprint, src.compute) is first
    assert (src.fingerprints, src.computed) == (2, 1)
    clock.now += 5.0  # counts as checked at the revalidation
    cache.get("k", src.fingerprint, src.compute)
    assert src.fingerprints == 2


def test_changed_data_is_recomputed_in_the_background_serving_the_old_meanwhile() -> None:
    clock, src = Clock(), Source()
    cache = AnalysisCache(ttl=10.0, clock=clock)
    old = cache.get("k", src.fingerprint, src.compute)
    src.version, src.gate = 2, threading.Event()
    clock.now += 11
    assert cache.get("k", src.fingerprint, src.compute) is old  # at once, not after compute
    assert cache.get("k", src.fingerprint, src.compute) is old  # a second viewer: no 2nd job
    assert src.fingerprints == 2
    src.gate.set()
    cache.join(5)
    new = cache.get("k", src.fingerprint, src.compute)
    assert new.value == "analysis of v2" and new.fingerprint == 2
    assert src.computed == 2 and cache.computations == 2


def test_many_first_viewers_wait_for_one_computation() -> None:
    src = Source()
    src.gate = threading.Event()
    cache = AnalysisCache(ttl=10.0)
    got: list[str] = []

    def view() -> None:
        got.append(cache.get("k", src.fingerprint, src.compute).value)

    viewers = [threading.Thread(target=view) for _ in range(8)]
    for v in viewers:
        v.start()
    time.sleep(0.2)
    src.gate.set()
    for v in viewers:
        v.join(5)
    assert got == ["analysis of v1"] * 8 and src.computed == 1


def test_a_failed_refresh_keeps_the_previous_analysis(caplog: pytest.LogCaptureFixture) -> None:
    clock, src = Clock(), Source()
    cache = AnalysisCache(ttl=10.0, clock=clock)
    old = cache.get("k", src.fingerprint, src.compute)

    def broken() -> str:
        raise RuntimeError("database went away")

    src.version = 2
    clock.now += 11
    with caplog.at_level(logging.ERROR, logger="rampway.dashboard"):
        assert cache.get("k", src.fingerprint, broken) is old
        cache.join(5)
    assert "refreshing a dashboard analysis failed" in caplog.text
    assert cache.get("k", src.fingerprint, broken) is old  # retried after the ttl, not now
    clock.now += 11
    cache.get("k", src.fingerprint, src.compute)
    cache.join(5)
    assert cache.get("k", src.fingerprint, src.compute).value == "analysis of v2"


def test_entries_are_bounded() -> None:
    cache = AnalysisCache(ttl=10.0, max_entries=3)
    for key in range(10):
        cache.get(key, lambda: 0, lambda key=key: key)  # type: ignore[misc]
    assert len(cache._entries) == 3


# -- through the store ----------------------------------------------------------------------


def test_the_experiment_page_follows_new_events(store: Store) -> None:
    record = running_experiment(store)
    clock = Clock()
    cache = AnalysisCache(ttl=10.0, clock=clock)
    first = cached_experiment_page(store, record, cache)
    assert cached_experiment_page(store, record, cache)["computed_at"] == first["computed_at"]
    clock.now += 11  # no new event: still the same analysis
    assert cached_experiment_page(store, record, cache)["computed_at"] == first["computed_at"]
    before = sum(a["requests"] for a in first["arms"])
    control = record.arms[0]
    SqlEventSink(store).write([RequestEvent(
        id="late", ts=time.time(), feature=record.feature, release_id=control.release_id,
        arm=control.name, unit_hash="u-late", latency_ms=100.0)], [])
    clock.now += 11
    assert cached_experiment_page(store, record, cache)["computed_at"] == first["computed_at"]
    cache.join(30)
    now = cached_experiment_page(store, record, cache)
    assert sum(a["requests"] for a in now["arms"]) == before + 1
    assert now["computed_at"] > first["computed_at"] and cache.computations == 2


def test_the_shadow_page_is_computed_once_per_change(store: Store) -> None:
    seeded = seed(store)
    shadow = verbose_shadow(store, seeded.baseline, seeded.candidate)
    cache = AnalysisCache(ttl=0.0)  # revalidate every view
    first = shadow_page(store, shadow.name, now=time.time(), cache=cache)
    again = shadow_page(store, shadow.name, now=time.time(), cache=cache)
    assert again["report"] is first["report"] and cache.computations == 1
    assert first["computed_at"] <= time.time()



async def test_a_warmed_dashboard_serves_the_first_views_from_its_cache(store: Store) -> None:
    """What the server does at start: the running experiment's and the live shadow's analyses
    are computed then, so their pages' first views compute nothing."""
    seeded = seed(store)
    experiment = running_experiment(store)
    shadow = verbose_shadow(store, seeded.baseline, seeded.candidate)
    app = create_dashboard_app(store)
    analyses = app.state.dashboard.analyses
    warm_in_background(app).join(60)
    assert analyses.computations == 2
    _, key = create_admin_key(store, "ana", Role.VIEWER, actor="test", reason="test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as ui:
        await sign_in(ui, key)
        for path in (f"/ui/experiments/{experiment.name}", f"/ui/shadows/{shadow.name}"):
            assert (await ui.get(path)).status_code == 200
    assert analyses.computations == 2


def test_warming_refuses_what_is_not_a_dashboard() -> None:
    with pytest.raises(TypeError, match="create_dashboard_app"):
        warm_in_background(object())


async def test_the_dashboard_served_alone_warms_at_start(store: Store) -> None:
    """Its own lifespan (the gateway's calls the same `warm_in_background`)."""
    experiment = running_experiment(store)
    app = create_dashboard_app(store)
    analyses = app.state.dashboard.analyses
    async with app.router.lifespan_context(app):
        deadline = time.monotonic() + 60
        while analyses.computations < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    assert analyses.computations == 1
    got = cached_experiment_page(store, experiment, analyses)
    assert analyses.computations == 1 and got["record"].id == experiment.id
