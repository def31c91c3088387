"""`unit: session` rollouts (issue #17 item 3): the gateway splits by the session id, a request
without one is randomised per request (like a request without a user unit under `unit: user`),
and the judge's per-unit totals count and cluster sessions — SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))

from gateway_helpers import Proj, first_use_migrates, gateway_client, make_project  # noqa: E402
from rollout_helpers import FEATURE, record_verdict  # noqa: E402

from rampway.events.model import hash_unit  # noqa: E402
from rampway.events.tables import feedback_events, request_events  # noqa: E402
from rampway.events.values import with_shape_ids
from rampway.gateway import Runtime  # noqa: E402
from rampway.rollout import Controller, Guardrail, Plan  # noqa: E402
from rampway.rollout.extract import load_samples  # noqa: E402
from rampway.rollout.totals import load_totals  # noqa: E402
from rampway.store import Store  # noqa: E402

PLAN = Plan.model_validate({
    "unit": "session",
    "steps": [{"weight": 50, "dwell": "1h"}, {"weight": 100}],
    "guardrails": [{"metric": "error_rate", "critical": True, "min_sample": 30}],
})


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
async def client(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_client(proj.project) as served:
        yield served


async def _ask(c: httpx.AsyncClient, user: str, session: str | None) -> str:
    headers = {} if session is None else {"X-Rampway-Session": session}
    r = await c.post("/v1/chat/completions", headers=headers, json={
        "model": FEATURE, "user": user, "messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 200, r.text
    return r.headers["x-rampway-arm"]


async def test_a_session_rollout_splits_one_user_s_sessions(
    client: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    c, runtime = client
    with Store.open(proj.db_url) as store:
        record_verdict(store, proj.v2.id, proj.v1.id)
        Controller(store).start(FEATURE, proj.v2.id, plan=PLAN, actor="ana")
    t0 = time.monotonic()
    while runtime.watcher.snapshot.rollouts.get(FEATURE) is None:
        assert time.monotonic() - t0 < 5
        await asyncio.sleep(0.02)
    arm_of = {}
    for i in range(30):
        arm_of[i] = await _ask(c, "user-1", f"s-{i}")
        assert await _ask(c, "user-1", f"s-{i}") == arm_of[i]  # sticky per session
    assert set(arm_of.values()) == {"baseline", "candidate"}  # one user, both arms
    # Without a session id: per request (the request id is hashed), not the user's arm —
    # 40 requests of one user land in both arms.
    assert {await _ask(c, "user-1", None) for _ in range(40)} == {"baseline", "candidate"}


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


GUARDRAILS = [Guardrail.model_validate(g) for g in (
    {"metric": "error_rate", "min_sample": 5},
    {"metric": "latency_p95", "min_sample": 5},
    {"metric": "feedback:task_done", "bad": "decrease", "min_sample": 5},
)]
RELEASES = {"baseline": "support-bot@b", "candidate": "support-bot@c"}


def test_the_judge_totals_count_sessions(store: Store) -> None:
    """10 users x 3 sessions x 4 requests, arms by session (alternating); one request without a
    session; feedback by session id and by request. Per session: 15 units per arm (+1 for the
    session-less request, its own unit); per user every user would be in both arms."""
    rows, feedback = [], []
    t = 1000.0
    for u in range(10):
        for s in range(3):
            session = f"u{u}-s{s}"
            arm = ("baseline", "candidate")[(u * 3 + s) % 2]
            for k in range(4):
                t += 1
                rows.append(_row(f"r-{session}-{k}", t, arm, RELEASES[arm], f"user-{u}",
                                 session, latency_ms=100.0 + 10 * k + (50 if arm == "candidate"
                                                                       else 0)))
            feedback.append({"id": f"fb-{session}", "ts": t + 0.5, "name": "task_done",
                             "value": 1.0, "request_id": None, "unit_hash": None,
                             "session_hash": hash_unit(session), "feature": FEATURE})
    rows.append(_row("r-alone", t + 1, "baseline", RELEASES["baseline"], "user-0", None))
    feedback.append({"id": "fb-user", "ts": t + 2, "name": "task_done", "value": 1.0,
                     "request_id": None, "unit_hash": hash_unit("user-0"),
                     "session_hash": None, "feature": FEATURE})  # a user's: not a session's
    feedback.append({"id": "fb-req", "ts": t + 3, "name": "task_done", "value": 0.0,
                     "request_id": "r-u0-s0-0", "unit_hash": None, "session_hash": None,
                     "feature": FEATURE})
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, rows))
        conn.execute(feedback_events.insert(), feedback)
    window: dict[str, Any] = {"feature": FEATURE, "releases": RELEASES, "since": 0.0,
                              "until": t + 100}
    look = load_totals(store, guardrails=GUARDRAILS, unit="session", **window)
    samples = load_samples(store, feedback=["feedback:task_done"], unit="session", **window)
    assert look.units == {"baseline": 16, "candidate": 15}
    assert look.requests == {"baseline": 61, "candidate": 60}
    assert {arm: s.units for arm, s in samples.items()} == look.units
    errors = look.totals[0]
    assert (errors[0].units, errors[1].units) == (16, 15)
    # feedback: 15 sessions per arm by session id, plus the one tied to a request (baseline)
    task = look.totals[2]
    assert (task[0].observations, task[1].observations) == (16, 15)
    assert (task[0].units, task[1].units) == (15, 15)  # the request's feedback: its session
    by_user = load_totals(store, guardrails=GUARDRAILS, **window)
    assert by_user.units == {"baseline": 10, "candidate": 10}
