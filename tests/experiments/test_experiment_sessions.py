"""`unit: session` experiments (issue #17 item 3): assignment hashes the session id, not the user;
a request without a session id is outside the experiment (no fallback to the user unit); event
rows carry both units; the analysis counts and clusters sessions — on SQLite and PostgreSQL,
through the real gateway (in-process ASGI) and the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import Proj, first_use_migrates, gateway_client, make_project, rows

import rampway
from rampway.events.model import hash_unit
from rampway.events.tables import feedback_events, request_events
from rampway.events.values import with_shape_ids
from rampway.experiments import Definition, ExperimentRecord, repo
from rampway.experiments.analysis import analyze
from rampway.experiments.extract import load_units
from rampway.gateway import Runtime
from rampway.store import Store

FEATURE = "support-bot"
ASK = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
async def client(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_client(proj.project) as served:
        yield served


def _start(proj: Proj, unit: str = "session", **extra: Any) -> ExperimentRecord:
    definition = Definition.model_validate({
        "feature": FEATURE, "unit": unit, "primary": "feedback:task_done",
        "arms": [{"name": "control", "release": "production"},
                 {"name": "friendly", "release": "v2"}], **extra})
    with Store.open(proj.db_url) as store:
        return repo.start(store, "by-session", definition, [proj.v1.id, proj.v2.id],
                          actor="ana", reason="test", now=time.time() - 1)


async def _running(runtime: Runtime) -> None:
    t0 = time.monotonic()
    while runtime.watcher.snapshot.experiments.get(FEATURE) is None:
        assert time.monotonic() - t0 < 5, "the experiment never reached the gateway"
        await asyncio.sleep(0.02)


async def _ask(c: httpx.AsyncClient, user: str | None, session: str | None,
               how: str = "header") -> httpx.Response:
    body: dict[str, Any] = {"model": FEATURE, "messages": ASK}
    headers: dict[str, str] = {}
    if user is not None:
        body["user"] = user
    if session is not None:
        if how == "header":
            headers["X-Rampway-Session"] = session
        elif how == "metadata":
            body["metadata"] = {"session_id": session}
        else:
            body["rampway"] = {"session": session}
    r = await c.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


async def test_one_user_s_sessions_are_assigned_independently_each_session_sticky(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = client
    _start(proj)
    await _running(runtime)
    arm_of: dict[str, str] = {}
    for i in range(40):  # one user, 40 sessions, each asked twice (header, then body)
        session = f"s-{i}"
        first = await _ask(c, "user-1", session)
        again = await _ask(c, "user-1", session, how="metadata" if i % 2 else "rampway")
        assert first.headers["x-rampway-arm"] == again.headers["x-rampway-arm"]  # sticky
        arm_of[session] = first.headers["x-rampway-arm"]
    assert set(arm_of.values()) == {"control", "friendly"}  # the same user sees both arms
    # A session lands in the same arm whoever's user it carries: the user unit plays no part.
    for i in range(10):
        r = await _ask(c, f"someone-else-{i}", f"s-{i}")
        assert r.headers["x-rampway-arm"] == arm_of[f"s-{i}"]
    # No session id: outside the experiment (the control's release, under the channel's name),
    # although the request has a user unit — a session experiment never falls back to it.
    for _ in range(3):
        r = await _ask(c, "user-1", None)
        assert (r.headers["x-rampway-arm"], r.headers["x-rampway-release"]) == (
            "production", proj.v1.id)
    assert runtime.writer.flush(5)
    events = rows(proj.db_url)
    assert len(events) == 40 * 2 + 10 + 3
    by_session = [e for e in events if e.session_hash is not None]
    assert {e.session_hash for e in by_session} == {hash_unit(f"s-{i}") for i in range(40)}
    assert {e.unit_hash for e in events if e.session_hash is None} == {hash_unit("user-1")}
    assert all(e.arm == arm_of[_session_of(e.session_hash)] for e in by_session)


def _session_of(digest: str) -> str:
    return next(f"s-{i}" for i in range(40) if hash_unit(f"s-{i}") == digest)


async def test_a_user_unit_experiment_ignores_the_session(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = client
    _start(proj, unit="user")
    await _running(runtime)
    arms = {(await _ask(c, "user-7", f"s-{i}")).headers["x-rampway-arm"] for i in range(20)}
    assert len(arms) == 1 and arms <= {"control", "friendly"}


def test_the_sdk_passes_the_session(proj: Proj) -> None:
    record = _start(proj)
    with rampway.Client(proj.project) as client:
        arms = set()
        for i in range(20):
            out = client.complete(FEATURE, input="hi", unit="user-1", session=f"s-{i}")
            again = client.complete(FEATURE, input="again", unit="user-2", session=f"s-{i}")
            assert again.arm == out.arm and out.release_id == record.arm(out.arm).release_id
            arms.add(out.arm)
        outside = client.complete(FEATURE, input="hi", unit="user-1")
        client.feedback("task_done", 1, session="s-0")
    assert arms == {"control", "friendly"}
    assert outside.arm == "production"
    events = rows(proj.db_url)
    assert {e.session_hash for e in events} == {hash_unit(f"s-{i}") for i in range(20)} | {None}
    fb = rows(proj.db_url, feedback_events)
    assert [(f.session_hash, f.unit_hash) for f in fb] == [(hash_unit("s-0"), None)]


# -- the analysis ---------------------------------------------------------------------------------


def _row(rid: str, ts: float, arm: str, release: str, user: str, session: str | None,
         **over: Any) -> dict[str, Any]:
    return {
        "id": rid, "ts": ts, "feature": FEATURE, "release_id": release, "arm": arm,
        "unit_hash": hash_unit(user), "session_hash": hash_unit(session), "source": "gateway",
        "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
        "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
        "latency_ms": 100.0, "input_tokens": 10, "output_tokens": 20, "cached_tokens": 0,
        "cost_usd": 0.001, "refusal": False, "output_chars": 40, **over,
    }


def _session_traffic(store: Store, record: ExperimentRecord, users: int, sessions: int,
                     per_session: int) -> dict[str, int]:
    """`users` users with `sessions` sessions each and `per_session` requests per session,
    assigned by the real allocation (by session); every session reports `task_done` once,
    by session id (no request id). Returns the sessions per arm."""
    from rampway.experiments import ActiveExperiments

    active = ActiveExperiments.of([record])
    t = record.started_at + 1
    requests, feedback, per_arm = [], [], {"control": 0, "friendly": 0}
    for u in range(users):
        for s in range(sessions):
            session = f"u{u}-s{s}"
            found = active.get(FEATURE)
            assert found is not None
            chosen = found.choose(session)
            assert chosen is not None
            arm, release = chosen
            per_arm[arm] += 1
            for k in range(per_session):
                t += 0.01
                requests.append(_row(f"r-{session}-{k}", t, arm, release, f"user-{u}", session,
                                     latency_ms=100.0 + k))
            feedback.append({"id": f"fb-{session}", "ts": t + 0.005, "name": "task_done",
                             "value": 1.0 if arm == "friendly" else float(s % 2),
                             "request_id": None, "unit_hash": None,
                             "session_hash": hash_unit(session), "feature": FEATURE})
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, requests))
        conn.execute(feedback_events.insert(), feedback)
    return per_arm


def test_the_analysis_counts_and_clusters_sessions(proj: Proj) -> None:
    record = _start(proj)
    with Store.open(proj.db_url) as store:
        per_arm = _session_traffic(store, record, users=30, sessions=4, per_session=3)
        until = time.time() + 60
        by_session = load_units(store, feature=FEATURE, arms=record.arms,
                                since=record.started_at, until=until, feedback=["task_done"],
                                quantiles=[0.95], unit="session")
        by_user = load_units(store, feature=FEATURE, arms=record.arms,
                             since=record.started_at, until=until, unit="user")
        report = analyze(store, record, now=until)
    # 120 sessions, each one unit in one arm; none seen in two arms
    assert {a.arm: a.units for a in by_session.arms} == per_arm
    assert by_session.multiple_exposures == 0
    assert all(a.requests == 3 * a.units for a in by_session.arms)
    # each session's own feedback, joined by its session id
    friendly = by_session.arm("friendly")
    assert friendly.column("feedback_count:task_done").tolist() == [1.0] * friendly.units
    assert friendly.column("feedback_sum:task_done").sum() == per_arm["friendly"]
    # latency_p95 over sessions: Woodruff's units are sessions
    assert {a.arm: a.quantiles[0.95][2] for a in by_session.arms} == per_arm
    # The same rows read per user: most users had sessions in both arms — what a session
    # experiment's analysis must not do.
    assert by_user.multiple_exposures > 20
    assert report.unit == "session" and report.multiple_exposures == 0
    assert {a.name: a.units for a in report.arms} == per_arm
    task = next(r for r in report.results if r.metric == "feedback:task_done")
    assert (task.n_control, task.n_treatment) == (per_arm["control"], per_arm["friendly"])
    with Store.open(proj.db_url) as store:
        exposure = repo.exposure(store, record, until)
    assert {arm: e["units"] for arm, e in exposure.items()} == per_arm


def test_requests_without_a_session_are_not_in_a_session_analysis(proj: Proj) -> None:
    record = _start(proj)
    t = record.started_at + 1
    rows_ = [_row("r1", t, "control", proj.v1.id, "user-1", "s-1"),
             _row("r2", t + 1, "control", proj.v1.id, "user-1", None),
             _row("r3", t + 2, "friendly", proj.v2.id, "user-2", "s-2")]
    with Store.open(proj.db_url) as store:
        with store.transaction() as conn:
            conn.execute(request_events.insert(), with_shape_ids(conn, rows_))
        got = load_units(store, feature=FEATURE, arms=record.arms, since=record.started_at,
                         until=t + 10, unit="session")
    assert {a.arm: (a.units, a.requests) for a in got.arms} == {"control": (1, 1),
                                                                "friendly": (1, 1)}
