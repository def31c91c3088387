"""`rampway rollout …` and `rampway controller` end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.store import Store

FEATURE = "assistant"
PLAN = """\
steps:
  - {weight: 10, dwell: 1h}
  - {weight: 100}
guardrails:
  - {metric: error_rate, critical: true, min_sample: 50}
  - {metric: latency_p95, critical: true, min_sample: 50}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict[str, object]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def bad(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An init-ed project with production → v1 and an edited working tree (v2)."""
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
    (root / "rollouts").mkdir()
    (root / "rollouts" / f"{FEATURE}.yaml").write_text(PLAN)
    return root


def audit_actions(db_url: str) -> list[str]:
    store = Store.open(db_url)
    try:
        return [e.action for e in reversed(store.list_audit(object_type="rollout"))]
    finally:
        store.close()


def test_start_status_pause_resume_promote(project: Path, db_url: str) -> None:
    started = run_json("rollout", "start", FEATURE, "--candidate", "releases/assistant",
                       "--reason", "greet users")
    assert started["status"] == "running" and started["weight_pct"] == 10
    status = run_json("rollout", "status", FEATURE)
    assert status["status"] == "running" and status["steps"][0]["current"]  # type: ignore[index]
    evaluation = status["evaluation"]
    assert evaluation["action"] == "hold"  # type: ignore[index]
    assert {g["verdict"] for g in evaluation["guardrails"]} == {"no_data"}  # type: ignore[index]
    text = run("rollout", "status", FEATURE)
    assert text.exit_code == 0 and "guardrails" in text.stdout and "no_data" in text.stdout
    assert run_json("rollout", "pause", FEATURE, "--reason", "lunch")["status"] == "paused"
    assert run_json("rollout", "resume", FEATURE, "--reason", "back")["status"] == "running"
    once = run_json("controller", "--once")
    assert once == {"moved": []}  # no data: holds
    done = run_json("rollout", "promote", FEATURE, "--reason", "customers asked")
    assert done["status"] == "completed"
    shown = run_json("release", "show", FEATURE, "production")
    assert shown["id"] == started["candidate"]
    assert audit_actions(db_url) == ["rollout.create", "rollout.start", "rollout.pause",
                                     "rollout.resume", "rollout.complete"]
    final = run("rollout", "status", FEATURE)
    assert final.exit_code == 0 and "completed" in final.stdout


def test_bad_input_is_one_line_and_starts_nothing(project: Path, db_url: str) -> None:
    bad(run("rollout", "start", FEATURE, "--candidate", "production"), "nothing to roll out")
    bad(run("rollout", "start", FEATURE), "--candidate REF")
    (project / "bad.yaml").write_text("steps:\n  - {weight: 50}\n  - {weight: 10}\n")
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant",
            "--plan", "bad.yaml"), "bad.yaml:1: steps: step weights must increase")
    (project / "bad.yaml").write_text("guardrails:\n  - {metric: vibes}\n")
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant",
            "--plan", "bad.yaml"), "unknown guardrail metric 'vibes'")
    (project / "bad.yaml").write_text("steps: []\n")
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant",
            "--plan", "bad.yaml"), "a plan needs at least one step")
    assert audit_actions(db_url) == []
    bad(run("rollout", "status", FEATURE), "has no rollouts")
    bad(run("rollout", "pause", FEATURE, "--reason", "x"), "has no active rollout")
    assert run("rollout", "start", FEATURE, "--candidate", "releases/assistant").exit_code == 0
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant"),
        "already has an active rollout")
    bad(run("rollout", "approve", FEATURE, "--reason", "x"), "cannot approve")
    bad(run("controller", "--interval", "0"), "--interval must be a positive")
    assert run_json("rollout", "abort", FEATURE, "--reason", "later")["status"] == "aborted"
    assert audit_actions(db_url) == ["rollout.create", "rollout.start", "rollout.abort"]


def test_rollout_webhook_settings_in_rampway_yaml_are_validated(project: Path) -> None:
    config = project / "rampway.yaml"
    config.write_text(config.read_text() + "rollouts:\n  webhooks:\n    - {url: nope}\n")
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant"),
        "rollouts.webhooks[0].url: webhook url must start with http:// or https://")


def test_status_of_a_fresh_project_creates_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    root = tmp_path / "fresh"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    bad(run("rollout", "status", FEATURE), "has no rollouts")
    assert not (root / ".rampway" / "rampway.db").exists()
