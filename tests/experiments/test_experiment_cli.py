"""`rampway experiment …` end to end on SQLite and PostgreSQL: validate, start (refs resolved and
published), status, list, stop — every command's --json, and bad input as one line, exit 2."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from experiment_helpers import serve_events
from rollout_helpers import give_gate_basis, record_verdict
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.config import load_project
from rampway.experiments import repo
from rampway.release import resolve_ref
from rampway.rollout import Controller, Plan
from rampway.store import Store

FEATURE = "assistant"
TONE = """\
feature: assistant
description: Greeting the user raises thumbs-up
arms:
  - {name: control, release: production, weight: 50}
  - {name: greeting, release: "releases/assistant", weight: 50}
coverage: 80
primary: "feedback:thumbs_up"
guardrails:
  - {metric: error_rate, bad: increase}
min_runtime: 2d
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def bad(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def root(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An init-ed project, production → v1, an edited working tree (v2), experiments/tone.yaml."""
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "tester@example.com")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    assert run("channel", "set", FEATURE, "production", "releases/assistant",
               "--reason", "launch").exit_code == 0
    system = root / "releases" / FEATURE / "prompts" / "system.md"
    system.write_text(system.read_text() + "Always greet the user.\n")
    (root / "experiments").mkdir()
    (root / "experiments" / "tone.yaml").write_text(TONE)
    return root


def test_validate_start_status_list_stop(root: Path, db_url: str) -> None:
    doc = run_json("experiment", "validate")
    assert doc["valid"] is True and [e["name"] for e in doc["experiments"]] == ["tone"]
    assert doc["experiments"][0]["arms"][1] == {"name": "greeting",
                                                "release": "releases/assistant",
                                                "weight_pct": 50.0}
    assert run_json("experiment", "list") == {"experiments": [], "never_started": ["tone"]}
    v2 = resolve_ref(load_project(root), FEATURE, "releases/assistant").id
    with Store.open(db_url) as store:
        production = store.get_channel(FEATURE, "production")
        assert production is not None
        v1 = production.release_id
        version = store.control_version()

    # like `rollout start`: the arm off production needs a gate PASS against it, nothing written
    refused = run("experiment", "start", "tone", "--reason", "tone test")
    bad(refused, "arm 'greeting': candidate")
    assert f"rampway gate assistant --candidate releases/assistant --baseline {v1}" in (
        refused.stderr)
    with Store.open(db_url) as store:
        assert store.control_version() == version and repo.recent(store) == []
        assert len(store.list_releases(FEATURE)) == 1  # the working tree was not published
        record_verdict(store, v2, v1, feature=FEATURE,
                       suite_digest=give_gate_basis(root, FEATURE))
    started = run_json("experiment", "start", "tone", "--reason", "tone test")
    assert started["status"] == "running" and started["name"] == "tone"
    assert [(a["name"], a["release_id"], a["weight_pct"], a["control"]) for a in started["arms"]] \
        == [("control", v1, 50.0, True), ("greeting", v2, 50.0, False)]
    assert started["coverage_pct"] == 80.0 and started["min_runtime_s"] == 2 * 86400
    assert started["started_by"] == "tester@example.com" and started["reason"] == "tone test"
    assert "definition" not in started
    with Store.open(db_url) as store:
        assert store.get_release(FEATURE, v2).release_id == v2  # the working tree got published
        assert store.control_version() > version
        [audit] = store.list_audit(object_type="experiment")
        assert audit.action == "experiment.start" and audit.actor == "tester@example.com"
        gate = audit.after["gates"]["greeting"]
        assert gate["verdict"] == "pass" and gate["basis_checked"] is True
        assert "control" not in audit.after["gates"]  # it serves production: nothing to gate

    status = run_json("experiment", "status", "tone")
    assert status["id"] == started["id"] and status["status"] == "running"
    assert status["exposure"] == {"control": {"requests": 0, "units": 0},
                                  "greeting": {"requests": 0, "units": 0}}
    assert status["definition"]["arms"][1]["release"] == "releases/assistant"
    assert 0 <= status["runtime_s"] < 60
    text = run("experiment", "status", "tone")
    assert text.exit_code == 0 and "greeting" in text.stdout and v2 in text.stdout
    assert "too early to call" in text.stdout
    assert re.search(r"ran \d+ seconds? of at least 2\.0 days", text.stdout), text.stdout

    listed = run_json("experiment", "list")
    assert [e["name"] for e in listed["experiments"]] == ["tone"]
    assert listed["never_started"] == []
    assert "tone" in run("experiment", "list").stdout

    bad(run("experiment", "start", "tone"), "experiment 'tone' is already running")
    stopped = run_json("experiment", "stop", "tone", "--reason", "enough")
    assert stopped["status"] == "stopped" and stopped["stop_reason"] == "enough"
    assert stopped["stopped_by"] == "tester@example.com" and stopped["stopped_at"]
    bad(run("experiment", "stop", "tone"), "already stopped")
    assert run_json("experiment", "status", "tone")["status"] == "stopped"


def test_start_refuses_while_a_rollout_runs_and_writes_nothing(root: Path, db_url: str) -> None:
    v2 = resolve_ref(load_project(root), FEATURE, "releases/assistant")
    with Store.open(db_url) as store:
        store.publish(FEATURE, v2.digest, v2.id, v2.canonical, actor="t", reason="test")
        Controller(store).start(FEATURE, v2.id, plan=Plan(), actor="ana", skip_gate=True,
                                reason="hotfix")
        version = store.control_version()
    bad(run("experiment", "start", "tone"), "has an active rollout")
    with Store.open(db_url) as store:
        assert store.control_version() == version and repo.recent(store) == []


def test_working_tree_release_is_not_published_when_refused(root: Path, db_url: str) -> None:
    (root / "experiments" / "tone.yaml").write_text(TONE.replace("name: greeting",
                                                                 "name: staging"))
    with Store.open(db_url) as store:
        v1 = store.get_channel(FEATURE, "production")
        assert v1 is not None
        store.set_channel(FEATURE, "staging", v1.release_id, actor="t", reason="a channel")
    bad(run("experiment", "start", "tone"), "arm 'staging' is named like a channel")
    with Store.open(db_url) as store:
        assert len(store.list_releases(FEATURE)) == 1


def test_bad_input_is_one_line_exit_2(root: Path) -> None:
    bad(run("experiment", "validate", "nope"), "no such experiment file")
    bad(run("experiment", "start", "../x"), "invalid experiment name")
    bad(run("experiment", "status", "tone"), "no experiment 'tone' was ever started")
    bad(run("experiment", "stop", "tone"), "no experiment 'tone' was ever started")
    (root / "experiments" / "broken.yaml").write_text(TONE.replace("weight: 50}\n  - {name: g",
                                                                   "weight: 40}\n  - {name: g"))
    bad(run("experiment", "validate"), "experiments/broken.yaml:3: arms: arm weights must sum")
    bad(run("experiment", "start", "broken", "--json"), "broken.yaml:3: arms")
    (root / "experiments" / "ghost.yaml").write_text(TONE.replace("releases/assistant", "ghost"))
    bad(run("experiment", "start", "ghost"), "unknown ref 'ghost'")


def test_no_experiments_and_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    bad(run("experiment", "validate"), "no experiments in")
    assert run_json("experiment", "list") == {"experiments": [], "never_started": []}
    bad(run("experiment", "status", "tone"), "was ever started")
    assert not (root / ".rampway").exists()  # read-only commands created no database


def test_analyze_reports_the_window_as_json_and_text(root: Path, db_url: str) -> None:
    bad(run("experiment", "start", "tone", "--skip-gate"), "skipping the gate needs a reason")
    bad(run("experiment", "start", "tone", "--skip-gate", "--reason", " "),
        "skipping the gate needs a reason")
    started = run_json("experiment", "start", "tone", "--skip-gate", "--reason", "gate infra down")
    with Store.open(db_url) as store:  # the override is audited with its reason
        skipped = [a for a in store.list_audit(object_type="experiment")
                   if a.action == "experiment.gate_skipped"]
        assert [(a.reason, a.actor) for a in skipped] == [("gate infra down",
                                                          "tester@example.com")]
        assert skipped[0].after["greeting"]["skipped"] is True
    with Store.open(db_url) as store:
        record = repo.latest(store, "tone")
        serve_events(store, record, units=400, ts=record.started_at, step=1e-4,
                     thumbs_up={"control": 0.0, "greeting": 1.0})
    while time.time() < record.started_at + 0.05:  # the window ends now: let it pass the rows
        time.sleep(0.01)
    doc = run_json("experiment", "analyze", "tone")
    assert doc["experiment"] == "tone" and doc["id"] == started["id"]
    assert [a["name"] for a in doc["arms"]] == ["control", "greeting"]
    arms = {a["name"]: a for a in doc["arms"]}
    with Store.open(db_url) as store:
        exposure = repo.exposure(store, record, record.started_at + 100)
    assert {n: a["units"] for n, a in arms.items()} == {
        n: e["units"] for n, e in exposure.items()}
    assert sum(a["units"] for a in doc["arms"]) < 400  # 80% coverage: the rest not counted
    assert {m["metric"] for m in doc["metrics"]} >= {"feedback:thumbs_up", "error_rate"}
    text = run("experiment", "analyze", "tone")
    assert text.exit_code == 0 and "feedback:thumbs_up" in text.stdout
    bad(run("experiment", "analyze", "nope"), "no experiment 'nope' was ever started")
