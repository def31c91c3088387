"""Rollouts through the admin API: the gate requirement and its audited override, plans and
bad input (4xx JSON, nothing written), If-Match on commands, status with guardrail results
from the event log, listing, and webhooks announced once per transition (on both databases)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from admin_helpers import Keys
from gateway_helpers import Proj, support_spec, write_release
from rollout_helpers import give_gate_basis

from rampway.admin import PREFIX, create_admin_app
from rampway.events.model import hash_unit
from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.gate import GateRecord, record_gate
from rampway.gate.model import GateInput, Verdict
from rampway.gate.policy import Policy, decide
from rampway.gate.report import GateReport
from rampway.release import load_release
from rampway.rollout import Notifier, Webhook
from rampway.store import Store

RO = f"{PREFIX}/rollouts/support-bot"
PLAN = {"steps": [{"weight": 20, "dwell": "1h"}, {"weight": 100}],
        "guardrails": [{"metric": "error_rate", "critical": True, "min_sample": 20},
                       {"metric": "latency_p95", "min_sample": 20}]}


def passing_gate(store: Store, candidate: str, baseline: str, root: Path) -> GateRecord:
    """A real recorded gate decision that the default policy passes (as `rampway gate` would),
    under the suite and policy the served project at `root` has (the server checks them)."""
    data = GateInput(feature="support-bot", traffic_class="chat", repeats=3, confidence=0.95,
                     axes={}, n_cases=40, newly_failing=(), baseline=baseline,
                     candidate=candidate)
    decision = decide(Policy(), data)
    assert decision.verdict is Verdict.PASS
    report = GateReport(data, Policy(), decision, "default policy",
                        suite_digest=give_gate_basis(root, "support-bot"))
    return record_gate(store, report, actor="ci")


def _counts(store: Store) -> tuple[int, int, int]:
    return (len(store.list_audit(limit=10_000)), store.control_version(),
            len(store.list_audit(object_type="rollout", limit=10_000)))


async def _post(api: httpx.AsyncClient, keys: Keys, path: str, body: dict[str, Any],
                **headers: str) -> httpx.Response:
    return await api.post(path, json=body, headers={**keys.headers("editor"), **headers})


def _assert_error(r: httpx.Response, status: int, fragment: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert fragment in error["message"], error


async def test_start_needs_a_passing_gate_or_an_audited_skip(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    before = _counts(store)
    refused = await _post(api, keys, RO, {"candidate": proj.v2.id, "plan": PLAN})
    _assert_error(refused, 400, "rampway gate support-bot --candidate")
    no_reason = await _post(api, keys, RO, {"candidate": proj.v2.id, "skip_gate": True})
    _assert_error(no_reason, 422, "skipping the gate needs a reason")
    assert no_reason.json()["error"]["param"] == "reason"
    assert _counts(store) == before

    gate = passing_gate(store, proj.v2.id, proj.v1.id, proj.project.root)
    started = await _post(api, keys, RO, {"candidate": proj.v2.id, "plan": PLAN,
                                          "reason": "new tone"})
    assert started.status_code == 201, started.text
    doc = started.json()
    assert (doc["status"], doc["weight_pct"], doc["candidate"], doc["baseline"]) == (
        "running", 20, proj.v2.id, proj.v1.id)
    assert doc["gate"]["id"] == gate.id and doc["gate"]["skipped"] is False
    assert started.headers["etag"] == f'"{doc["version"]}"'
    audit = store.list_audit(object_type="rollout", limit=10)
    assert [a.action for a in audit] == ["rollout.start", "rollout.create"]
    assert {a.actor for a in audit} == {"editor-key"}


async def test_skip_gate_with_a_reason_is_audited(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    r = await _post(api, keys, RO, {"candidate": "production", "plan": PLAN,
                                    "skip_gate": True, "reason": "P0 hotfix"})
    _assert_error(r, 400, "already serves")  # a channel names its release: v1 is production
    r = await _post(api, keys, RO, {"candidate": proj.v2.id[:16], "plan": PLAN,
                                    "skip_gate": True, "reason": "P0 hotfix"})
    assert r.status_code == 201 and r.json()["gate"]["skipped"] is True
    [skip] = store.list_audit(object_type="rollout", limit=10)[1:2]
    assert (skip.action, skip.reason, skip.actor) == ("rollout.gate_skipped", "P0 hotfix",
                                                      "editor-key")


BAD_STARTS: list[tuple[dict[str, Any], int, str]] = [
    ({"candidate": "support-bot@ffffffff", "skip_gate": True, "reason": "r"}, 404, "no release"),
    ({"candidate": "x", "plan": {"steps": [{"weight": 50}, {"weight": 20}]}, "skip_gate": True,
      "reason": "r"}, 400, "plan.steps: step weights must increase"),
    ({"candidate": "x", "plan": {"steps": [], "guardrails": []}, "skip_gate": True,
      "reason": "r"}, 400, "plan.steps"),
    ({"candidate": "x", "plan": {"guardrails": [{"metric": "vibes"}]}, "skip_gate": True,
      "reason": "r"}, 400, "plan.guardrails.0.metric"),
    ({"candidate": "x", "plan": {"feature": "other"}, "skip_gate": True, "reason": "r"}, 400,
     "plan is for feature 'other'"),
    ({"candidate": "x", "surprise": 1}, 400, "surprise"),
    ({"plan": PLAN}, 400, "candidate"),
]


async def test_bad_starts_are_4xx_json_and_write_nothing(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    before = _counts(store)
    for body, status, fragment in BAD_STARTS:
        if body.get("candidate") == "x":
            body = {**body, "candidate": proj.v2.id}
        _assert_error(await _post(api, keys, RO, body), status, fragment)
    malformed = await api.post(RO, content=b"{nope", headers={
        **keys.headers("editor"), "content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["type"]
    assert _counts(store) == before
    overlap = {"candidate": proj.v2.id, "plan": PLAN, "skip_gate": True, "reason": "r"}
    assert (await _post(api, keys, RO, overlap)).status_code == 201
    middle = _counts(store)
    _assert_error(await _post(api, keys, RO, overlap), 409, "already has an active rollout")
    assert _counts(store) == middle


async def test_commands_honour_if_match_and_refuse_what_makes_no_sense(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    _assert_error(await _post(api, keys, f"{RO}/pause", {"reason": "r"}), 404, "no rollouts")
    start = {"candidate": proj.v2.id, "plan": PLAN, "skip_gate": True, "reason": "r"}
    etag = (await _post(api, keys, RO, start)).headers["etag"]
    before = _counts(store)
    _assert_error(await _post(api, keys, f"{RO}/resume", {"reason": "r"}), 409,
                  "cannot resume: rollout is running")
    _assert_error(await _post(api, keys, f"{RO}/pause", {"reason": ""}), 422, "needs a reason")
    _assert_error(await _post(api, keys, f"{RO}/pause", {"reason": " "}), 422, "needs a reason")
    _assert_error(await _post(api, keys, f"{RO}/pause", {}), 422, "needs a reason")
    _assert_error(await _post(api, keys, f"{RO}/pause", {"reason": "r"}, **{"if-match": '"99"'}),
                  409, "changed since you read it")
    _assert_error(await _post(api, keys, f"{RO}/pause", {"reason": "r"}, **{"if-match": "x"}),
                  400, "If-Match")
    assert _counts(store) == before
    paused = await _post(api, keys, f"{RO}/pause", {"reason": "look"}, **{"if-match": etag})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    stale = await _post(api, keys, f"{RO}/resume", {"reason": "go"}, **{"if-match": etag})
    _assert_error(stale, 409, "changed since you read it")
    resumed = await _post(api, keys, f"{RO}/resume", {"reason": "go"},
                          **{"if-match": paused.headers["etag"]})
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    answers = await asyncio.gather(*(
        _post(api, keys, f"{RO}/rollback", {"reason": f"race {n}"},
              **{"if-match": resumed.headers["etag"]}) for n in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    actions = [a.action for a in store.list_audit(object_type="rollout", limit=100)]
    assert actions.count("rollout.rollback") == 1
    _assert_error(await _post(api, keys, f"{RO}/abort", {"reason": "r"}), 409,
                  "has no active rollout")
    missing = await api.get(f"{RO}/99", headers=keys.headers("viewer"))
    _assert_error(missing, 404, "no rollout #99")
    other = await api.get(f"{PREFIX}/rollouts/echo/1", headers=keys.headers("viewer"))
    _assert_error(other, 404, "no rollout #1 of feature 'echo'")
    wrong = await api.get(f"{RO}/pause", headers=keys.headers("viewer"))
    assert wrong.status_code == 405


async def test_start_of_a_release_sent_as_canonical_text_publishes_it_only_once_accepted(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj, tmp_path: Path
) -> None:
    staged = write_release(tmp_path / "v3", "support-bot", support_spec("sim-large"),
                           {"prompts/system.md": "v3 assistant, greet {{ customer_name }}."})
    v3 = load_release(staged, feature="support-bot")
    body = {"candidate": "releases/support-bot", "canonical": v3.canonical, "plan": PLAN,
            "reason": "v3"}
    before = _counts(store)
    refused = await _post(api, keys, RO, body)
    _assert_error(refused, 400, f"candidate {v3.id} has no recorded gate")
    assert "rampway gate support-bot --candidate releases/support-bot" in (
        refused.json()["error"]["message"])  # the caller's name for it, to run the gate with
    _assert_error(await _post(api, keys, RO, {**body, "canonical": proj.echo.canonical}), 400,
                  "this release is of feature 'echo', not 'support-bot'")
    _assert_error(await _post(api, keys, RO, {**body, "canonical": "nope"}), 400, "")
    assert _counts(store) == before
    assert v3.id not in {r.release_id for r in store.list_releases("support-bot")}

    passing_gate(store, v3.id, proj.v1.id, proj.project.root)
    started = await _post(api, keys, RO, body)
    assert started.status_code == 201, started.text
    assert started.json()["candidate"] == v3.id
    assert store.get_release("support-bot", v3.id).created_by == "editor-key"


def _state_conflict(r: httpx.Response, fragment: str) -> None:
    _assert_error(r, 409, fragment)
    assert r.json()["error"]["type"] == r.json()["error"]["code"] == "state_conflict"


async def test_commands_the_state_rules_out_are_409_state_conflict_and_write_nothing(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    approval = {**PLAN, "steps": [{"weight": 20, "dwell": 0},
                                  {"weight": 50, "approval": True}, {"weight": 100}]}
    start = {"candidate": proj.v2.id, "plan": approval, "skip_gate": True, "reason": "r"}
    assert (await _post(api, keys, RO, start)).status_code == 201
    before = _counts(store)
    for name in ("resume", "approve"):  # running
        _state_conflict(await _post(api, keys, f"{RO}/{name}", {"reason": "r"}),
                        f"cannot {name}: rollout is running, not ")
    _state_conflict(await _post(api, keys, RO, start), "already has an active rollout")
    assert _counts(store) == before
    assert (await _post(api, keys, f"{RO}/pause", {"reason": "r"})).status_code == 200
    before = _counts(store)
    for name in ("pause", "approve"):  # paused
        _state_conflict(await _post(api, keys, f"{RO}/{name}", {"reason": "r"}),
                        f"cannot {name}: rollout is paused")
    assert _counts(store) == before
    finished = ("rollback", "rolled_back"), ("promote", "completed"), ("abort", "aborted")
    for finish, status in finished:
        if finish != "rollback":
            assert (await _post(api, keys, RO, start)).status_code == 201
        done = await _post(api, keys, f"{RO}/{finish}", {"reason": "r"})
        assert done.status_code == 200 and done.json()["status"] == status
        etag = done.headers["etag"]
        before = _counts(store)
        for name in ("pause", "resume", "approve", "promote", "abort", "rollback"):
            r = await _post(api, keys, f"{RO}/{name}", {"reason": "r"}, **{"if-match": etag})
            _state_conflict(r, f"is already {status}; nothing to {name}")
        assert _counts(store) == before
        if finish == "promote":  # the channel moved: start the next one from v2 back to v1
            store.set_channel("support-bot", "production", proj.v1.id, actor="t", reason="r")


def _events(proj: Proj, since: str, n: int, *, candidate_errors: int) -> list[dict[str, Any]]:
    """n requests per arm between `since` (the step's start) and now; the candidate fails
    `candidate_errors` of them."""
    start = datetime.fromisoformat(since).timestamp()
    step = (time.time() - start) / (n + 1)
    out = []
    for arm, release in (("baseline", proj.v1.id), ("candidate", proj.v2.id)):
        for i in range(n):
            error = arm == "candidate" and i < candidate_errors
            out.append({
                "id": f"req_{arm}_{i}", "ts": start + (i + 1) * step, "feature": "support-bot",
                "release_id": release, "arm": arm, "unit_hash": hash_unit(f"u{i}"),
                "source": "gateway", "protocol": "openai", "stream": False,
                "provider": "sim", "model": "sim-large", "attempts": 1, "fallback_used": False,
                "status": "error" if error else "ok", "http_status": 502 if error else 200,
                "error_code": "server_error" if error else None,
                "latency_ms": 400.0 + i % 50, "ttft_ms": 100.0, "input_tokens": 50,
                "output_tokens": 100, "cached_tokens": 0, "cost_usd": 0.001,
                "refusal": False, "finish_reason": "stop", "output_chars": 400,
                "prompt_text": None, "response_text": None,
            })
    return out


async def test_status_shows_guardrails_from_the_event_log_and_listing_filters(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    viewer = keys.headers("viewer")
    _assert_error(await api.get(RO, headers=viewer), 404, "has no rollouts")
    assert (await api.get(f"{PREFIX}/rollouts", headers=viewer)).json() == {"rollouts": []}
    start = {"candidate": proj.v2.id, "plan": PLAN, "skip_gate": True, "reason": "r"}
    started = (await _post(api, keys, RO, start)).json()
    assert started["evaluation"] is None or started["evaluation"]["action"] == "hold"
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(
            conn, _events(proj, started["step_started_at"], 200, candidate_errors=60)))
    status = await api.get(RO, headers=viewer)
    assert status.status_code == 200
    doc = status.json()
    assert [s["weight_pct"] for s in doc["steps"]] == [20, 100] and doc["steps"][0]["current"]
    guardrails = {g["metric"]: g for g in doc["evaluation"]["guardrails"]}
    assert guardrails["error_rate"]["verdict"] == "fail"
    assert (guardrails["error_rate"]["n_baseline"], guardrails["error_rate"]["n_candidate"]) == (
        200, 200)
    assert guardrails["error_rate"]["candidate_value"] == pytest.approx(0.3)
    assert doc["evaluation"]["action"] == "rollback"
    assert doc["status"] == "running"  # looking is not acting: the controller decides
    same = await api.get(f"{RO}/{doc['id']}", headers=viewer)
    assert same.json()["evaluation"] == doc["evaluation"]

    await _post(api, keys, f"{RO}/abort", {"reason": "r"})
    await _post(api, keys, RO, start)
    listing = (await api.get(f"{PREFIX}/rollouts", headers=viewer)).json()["rollouts"]
    assert [(x["id"], x["status"]) for x in listing] == [(2, "running"), (1, "aborted")]
    active = await api.get(f"{PREFIX}/rollouts", params={"active": "true"}, headers=viewer)
    assert [x["id"] for x in active.json()["rollouts"]] == [2]
    echo = await api.get(f"{PREFIX}/rollouts", params={"feature": "echo"}, headers=viewer)
    assert echo.json()["rollouts"] == []
    first = await api.get(f"{PREFIX}/rollouts", params={"limit": 1}, headers=viewer)
    assert [x["id"] for x in first.json()["rollouts"]] == [2]


@pytest.fixture
async def hooked(
    store: Store, proj: Proj
) -> AsyncIterator[tuple[httpx.AsyncClient, list[dict[str, Any]], Notifier]]:
    received: list[dict[str, Any]] = []

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(200)

    notifier = Notifier([Webhook(url="http://hooks.test/rollouts")],
                        transport=httpx.MockTransport(hook))
    app = create_admin_app(store, project=proj.project, notifier=notifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://admin") as client:
        yield client, received, notifier


async def test_transitions_made_through_the_api_are_announced_once(
    hooked: tuple[httpx.AsyncClient, list[dict[str, Any]], Notifier], keys: Keys, proj: Proj
) -> None:
    api, received, notifier = hooked
    start = {"candidate": proj.v2.id, "plan": PLAN, "skip_gate": True, "reason": "r"}
    assert (await _post(api, keys, RO, start)).status_code == 201
    assert (await _post(api, keys, f"{RO}/pause", {"reason": "look"})).status_code == 200
    assert (await _post(api, keys, f"{RO}/promote", {"reason": "ship"})).status_code == 200
    notifier.close(timeout=5)
    assert [(n["type"], n["actor"]) for n in received] == [
        ("rollout.start", "editor-key"), ("rollout.pause", "editor-key"),
        ("rollout.complete", "editor-key")]
