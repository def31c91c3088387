"""Experiments through the admin API on both databases: every route's keys and roles (401/403,
nothing written when refused), the audit rows of start and stop, ETag/If-Match, definitions from
the body or the project, and bad input as 4xx JSON with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_helpers import Proj, first_use_migrates, make_project
from rollout_helpers import give_gate_basis, record_verdict

from rampway.admin import PREFIX, Role, create_admin_app, create_admin_key
from rampway.experiments import repo
from rampway.rollout import Controller, Plan
from rampway.store import Store

EX = f"{PREFIX}/experiments"
ROLES = ["viewer", "editor", "admin"]


def tone(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "feature": "support-bot",
        "arms": [{"name": "control", "release": "production", "weight": 50},
                 {"name": "fresh", "release": "", "weight": 50}],
        "primary": "feedback:thumbs_up",
        "guardrails": [{"metric": "error_rate", "bad": "increase"}],
    }
    data.update(overrides)
    return data


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
def store(proj: Proj) -> Iterator[Store]:
    opened = Store.open(proj.db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def keys(store: Store) -> dict[str, dict[str, str]]:
    made = {role.value: create_admin_key(store, f"{role.value}-key", role, actor="setup",
                                         reason="test")[1]
            for role in Role}
    return {role: {"authorization": f"Bearer {key}"} for role, key in made.items()}


@pytest.fixture
async def api(store: Store, proj: Proj) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_admin_app(store, project=proj.project))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


@pytest.fixture
def gated(store: Store, proj: Proj) -> None:
    """A recorded PASS of v2 (the fresh arm) against production (v1), under the project's
    current policy and suite: what an arm off production needs, as a rollout candidate does."""
    record_verdict(store, proj.v2.id, proj.v1.id,
                   suite_digest=give_gate_basis(proj.project.root, "support-bot"))


def definition(proj: Proj) -> dict[str, Any]:
    data = tone()
    data["arms"][1]["release"] = proj.v2.id
    return data


def _counts(store: Store) -> tuple[int, int, int]:
    return (len(store.list_audit(limit=10_000)), store.control_version(),
            len(repo.recent(store)))


def _error(r: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and fragment in error["message"], error


async def test_every_experiment_route_checks_keys_and_roles_and_audits_changes(
    api: httpx.AsyncClient, store: Store, keys: dict[str, dict[str, str]], proj: Proj,
    gated: None,
) -> None:
    why = {"reason": "checked"}
    walk: list[tuple[str, str, str, int, dict[str, Any] | None, str | None]] = [
        ("GET", EX, "viewer", 200, None, None),
        ("POST", f"{EX}/tone", "editor", 201, {"definition": definition(proj),
                                               "reason": "tone test"}, "experiment.start"),
        ("GET", f"{EX}/tone", "viewer", 200, None, None),
        ("GET", f"{EX}/tone/1", "viewer", 200, None, None),
        ("POST", f"{EX}/tone/stop", "editor", 200, why, "experiment.stop"),
    ]
    for method, path, role, status, body, action in walk:
        before = _counts(store)
        for denied in [None, "bogus", *ROLES[: ROLES.index(role)]]:
            headers = ({"authorization": "Bearer rwa_nope"} if denied == "bogus"
                       else keys.get(denied or "", {}))
            r = await api.request(method, path, json=body, headers=headers)
            assert r.status_code == (403 if denied in ROLES else 401), (path, denied, r.text)
        assert _counts(store) == before, path
        r = await api.request(method, path, json=body, headers=keys[role])
        assert r.status_code == status, (path, r.text)
        entries = store.list_audit(limit=10_000)[: len(store.list_audit(limit=10_000))
                                                  - before[0]]
        assert [e.action for e in entries] == ([action] if action else []), path
        assert all(e.actor == f"{role}-key" for e in entries)
    schema = (await api.get(f"{PREFIX}/openapi.json")).json()["paths"]
    routes = {(m.upper(), p) for p, ops in schema.items() for m in ops if "/experiments" in p}
    assert routes == {("GET", EX), ("POST", f"{EX}/{{name}}"), ("GET", f"{EX}/{{name}}"),
                      ("GET", f"{EX}/{{name}}/{{experiment_id}}"),
                      ("POST", f"{EX}/{{name}}/stop")}


async def test_start_get_list_and_stop(
    api: httpx.AsyncClient, store: Store, keys: dict[str, dict[str, str]], proj: Proj,
    gated: None,
) -> None:
    version = store.control_version()
    started = await api.post(f"{EX}/tone", json={"definition": definition(proj)},
                             headers=keys["editor"])
    assert started.status_code == 201, started.text
    doc = started.json()
    assert doc["status"] == "running" and doc["feature"] == "support-bot"
    assert [(a["name"], a["release_id"]) for a in doc["arms"]] == [
        ("control", proj.v1.id), ("fresh", proj.v2.id)]
    assert doc["exposure"] == {"control": {"requests": 0, "units": 0},
                               "fresh": {"requests": 0, "units": 0}}
    assert doc["reason"] == "start experiment tone" and doc["started_by"] == "editor-key"
    assert started.headers["etag"] == '"1"' and store.control_version() == version + 1

    got = await api.get(f"{EX}/tone", headers=keys["viewer"])
    assert got.json() == doc and got.headers["etag"] == '"1"'
    one = await api.get(f"{EX}/tone/{doc['id']}", headers=keys["viewer"])
    assert one.json()["id"] == doc["id"]
    listed = (await api.get(EX, params={"running": "true"}, headers=keys["viewer"])).json()
    assert [e["name"] for e in listed["experiments"]] == ["tone"]
    assert "definition" not in listed["experiments"][0]
    assert (await api.get(EX, params={"feature": "echo"},
                          headers=keys["viewer"])).json() == {"experiments": []}

    stale = await api.post(f"{EX}/tone/stop", json={"reason": "done"},
                           headers={**keys["editor"], "if-match": '"7"'})
    _error(stale, 409, "conflict", "version 1, not 7")
    stopped = await api.post(f"{EX}/tone/stop", json={"reason": "done"},
                             headers={**keys["editor"], "if-match": got.headers["etag"]})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped" and stopped.headers["etag"] == '"2"'
    assert stopped.json()["stop_reason"] == "done"
    again = await api.post(f"{EX}/tone/stop", json={"reason": "again"}, headers=keys["editor"])
    _error(again, 409, "state_conflict", "already stopped")
    listed = (await api.get(EX, params={"running": "true"}, headers=keys["viewer"])).json()
    assert listed == {"experiments": []}


async def test_start_reads_the_projects_file_without_a_body_definition(
    api: httpx.AsyncClient, store: Store, keys: dict[str, dict[str, str]], proj: Proj,
    gated: None,
) -> None:
    directory = proj.project.root / "experiments"
    directory.mkdir()
    (directory / "tone.yaml").write_text(yaml.safe_dump(definition(proj)))
    r = await api.post(f"{EX}/tone", json={"reason": "from the file"}, headers=keys["editor"])
    assert r.status_code == 201, r.text
    assert r.json()["definition"]["arms"][1]["release"] == proj.v2.id
    missing = await api.post(f"{EX}/other", json={}, headers=keys["editor"])
    _error(missing, 400, "invalid_config", "no such experiment file")


async def test_bad_input_and_refused_starts_write_nothing(
    api: httpx.AsyncClient, store: Store, keys: dict[str, dict[str, str]], proj: Proj
) -> None:
    before = _counts(store)
    editor = keys["editor"]

    async def start(name: str, body: dict[str, Any]) -> httpx.Response:
        return await api.post(f"{EX}/{name}", json=body, headers=editor)

    bad_weights = definition(proj)
    bad_weights["arms"][0]["weight"] = 40
    _error(await start("tone", {"definition": bad_weights}), 400, "invalid_config",
           "definition: arms: arm weights must sum to 100, got 90")
    _error(await start("tone", {"definition": {**definition(proj), "primary": "happiness"}}), 400,
           "invalid_config", "unknown metric 'happiness'")
    unknown = definition(proj)
    unknown["arms"][1]["release"] = "support-bot@ffffffff"
    _error(await start("tone", {"definition": unknown}), 404, "unknown_ref", "no release")
    _error(await start("bad name", {"definition": definition(proj)}), 400, "invalid_config",
           "invalid experiment name")
    _error(await start("tone", {"definition": definition(proj), "colour": 1}), 400,
           "invalid_request_error", "colour")
    assert _counts(store) == before

    Controller(store).start("support-bot", proj.v2.id, plan=Plan(), actor="ana",
                            skip_gate=True, reason="hotfix")
    before = _counts(store)
    _error(await start("tone", {"definition": definition(proj)}), 409, "state_conflict",
           "has an active rollout")
    assert _counts(store) == before

    echo = tone(feature="echo", arms=[{"name": "a", "release": "production"},
                                      {"name": "b", "release": proj.echo.id}])
    assert (await start("echo-test", {"definition": echo})).status_code == 201
    before = _counts(store)
    _error(await start("echo-again", {"definition": echo}), 409, "state_conflict",
           "running experiment (echo-test#")
    assert _counts(store) == before

    _error(await api.get(f"{EX}/never", headers=keys["viewer"]), 404, "unknown_ref",
           "no experiment 'never' was ever started")
    _error(await api.get(f"{EX}/tone/1", headers=keys["viewer"]), 404, "unknown_ref",
           "called 'tone'")
    _error(await api.post(f"{EX}/never/stop", json={"reason": "x"}, headers=editor), 404,
           "unknown_ref", "never")
    _error(await api.post(f"{EX}/echo-test/stop", json={}, headers=editor), 422,
           "reason_required", "stopping experiment 'echo-test' needs a reason")
    _error(await api.post(f"{EX}/echo-test/stop", json={"reason": " "}, headers=editor), 422,
           "reason_required", "needs a reason")
    _error(await api.post(f"{EX}/echo-test/stop", json={"reason": "x"},
                          headers={**editor, "if-match": "soon"}), 400,
           "invalid_request_error", "If-Match")
    assert _counts(store) == before


async def test_an_arm_off_production_needs_a_gate_pass_or_an_audited_skip(
    api: httpx.AsyncClient, store: Store, keys: dict[str, dict[str, str]], proj: Proj
) -> None:
    """What `rollout start` requires of its candidate, an experiment start requires of each arm
    not serving production's release: the refusal names the arm and the command, nothing is
    written; `skip_gate` needs a reason and is audited."""
    before = _counts(store)
    refused = await api.post(f"{EX}/tone", json={"definition": definition(proj)},
                             headers=keys["editor"])
    _error(refused, 400, "invalid_config", "arm 'fresh': candidate " + proj.v2.id)
    assert (f"rampway gate support-bot --candidate {proj.v2.id} --baseline {proj.v1.id}"
            in refused.json()["error"]["message"])
    assert _counts(store) == before
    record_verdict(store, proj.v2.id, proj.v1.id, "fail",
                   suite_digest=give_gate_basis(proj.project.root, "support-bot"))
    before = _counts(store)
    failed = await api.post(f"{EX}/tone", json={"definition": definition(proj)},
                            headers=keys["editor"])
    _error(failed, 400, "invalid_config", "is FAIL")
    blank = await api.post(f"{EX}/tone", json={"definition": definition(proj),
                                               "skip_gate": True, "reason": " "},
                           headers=keys["editor"])
    _error(blank, 422, "reason_required", "skipping the gate needs a reason")
    assert blank.json()["error"]["param"] == "reason"
    assert _counts(store) == before
    skipped = await api.post(f"{EX}/tone", json={"definition": definition(proj),
                                                 "skip_gate": True, "reason": "infra down"},
                             headers=keys["editor"])
    assert skipped.status_code == 201, skipped.text
    rows = {a.action: a for a in store.list_audit(object_type="experiment")}
    assert rows["experiment.gate_skipped"].reason == "infra down"
    assert rows["experiment.start"].after["gates"]["fresh"]["skipped"] is True
