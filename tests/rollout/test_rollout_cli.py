"""`rampway rollout …` and `rampway controller` end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from rollout_helpers import count_rows, give_gate_basis, record_verdict
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.config import load_project
from rampway.events.clickhouse import parse_events_url
from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.model import RequestEvent
from rampway.events.tables import request_events
from rampway.release import resolve_ref
from rampway.rollout.tables import rollouts
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
def ungated(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An init-ed project with production → v1 and an edited working tree (v2), not gated."""
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
    give_gate_basis(root, FEATURE)
    return root


def ids(root: Path, db_url: str) -> tuple[str, str]:
    """(candidate id of the working tree, the release production serves)."""
    candidate = resolve_ref(load_project(root), FEATURE, "releases/assistant").id
    with Store.open(db_url) as store:
        channel = store.get_channel(FEATURE, "production")
    assert channel is not None
    return candidate, channel.release_id


def record(db_url: str, candidate: str, baseline: str, verdict: str) -> None:
    suite = give_gate_basis(Path.cwd(), FEATURE)
    with Store.open(db_url) as store:
        record_verdict(store, candidate, baseline, verdict, feature=FEATURE, suite_digest=suite)


@pytest.fixture
def project(ungated: Path, db_url: str) -> Path:
    """`ungated`, plus a recorded PASS gate of the working tree against production."""
    record(db_url, *ids(ungated, db_url), "pass")
    return ungated


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
    assert started["gate"]["verdict"] == "pass"  # type: ignore[index]
    status = run_json("rollout", "status", FEATURE)
    assert status["status"] == "running" and status["steps"][0]["current"]  # type: ignore[index]
    gate = status["gate"]
    assert gate["skipped"] is False and gate["verdict"] == "pass"  # type: ignore[index]
    assert (gate["candidate"], gate["baseline"]) == (  # type: ignore[index]
        started["candidate"], started["baseline"])
    evaluation = status["evaluation"]
    assert evaluation["action"] == "hold"  # type: ignore[index]
    assert {g["verdict"] for g in evaluation["guardrails"]} == {"no_data"}  # type: ignore[index]
    assert evaluation["srm"]["verdict"] == "no_data"  # type: ignore[index]
    text = run("rollout", "status", FEATURE)
    assert text.exit_code == 0 and "guardrails" in text.stdout and "no_data" in text.stdout
    assert "sample ratio: no_data — candidate 0 / baseline 0 units, expected 0 / 0 at 10%: " \
           "too few to test" in text.stdout
    assert f"gate: pass (#{gate['id']}, default policy, by ci at" in text.stdout  # type: ignore[index]
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
    bad(run("rollout", "pause", FEATURE, "--reason", "x"), "has no rollouts")
    assert run("rollout", "start", FEATURE, "--candidate", "releases/assistant").exit_code == 0
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant"),
        "already has an active rollout")
    bad(run("rollout", "approve", FEATURE, "--reason", "x"), "cannot approve")
    bad(run("controller", "--interval", "0"), "--interval must be a positive")
    assert run_json("rollout", "abort", FEATURE, "--reason", "later")["status"] == "aborted"
    bad(run("rollout", "resume", FEATURE, "--reason", "x"),
        "has no active rollout: its latest, #1, is already aborted; nothing to resume")
    assert audit_actions(db_url) == ["rollout.create", "rollout.start", "rollout.abort"]


def test_a_rollout_is_judged_on_the_events_in_clickhouse(
    project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the events in ClickHouse (`$RAMPWAY_EVENTS`) a rollout starts, and `rollout status`
    and `rampway controller --once` judge the events there, not the main database's."""
    monkeypatch.setenv("RAMPWAY_EVENTS", "chdb://.rampway/events")
    started = run_json("rollout", "start", FEATURE, "--candidate", "releases/assistant")
    assert started["status"] == "running"
    shown = run_json("rollout", "status", FEATURE)
    since = datetime.fromisoformat(str(shown["step_started_at"])).timestamp()
    arms = {"baseline": str(started["baseline"]), "candidate": str(started["candidate"])}
    requests = [RequestEvent(id=f"r{i}", ts=since + 0.001 * i, feature=FEATURE,
                             release_id=arms[arm], arm=arm, unit_hash=f"u{i % 40}",
                             latency_ms=100.0 + i)
                for i in range(200) for arm in [("baseline", "candidate")[i % 40 < 4]]]
    with ClickHouseEvents.open(parse_events_url(f"chdb://{project / '.rampway/events'}")) as ev:
        ev.sink().write(requests, [])
    status = run_json("rollout", "status", FEATURE)
    guardrails = status["evaluation"]["guardrails"]  # type: ignore[index]
    assert [(g["n_baseline"], g["n_candidate"]) for g in guardrails] == [(180, 20)] * 2
    assert run_json("controller", "--once") == {"moved": []}  # too few to decide: holds
    with Store.open(db_url) as store:
        assert count_rows(store, request_events) == 0


def test_status_beside_a_process_holding_the_embedded_engine_shows_the_last_look(
    project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chdb:// serves one process: while another (a serving gateway) holds the directory,
    `rollout status` cannot look afresh — it says why on stderr and shows the stored
    evaluation, exit 0, instead of failing with "cannot open"."""
    monkeypatch.setenv("RAMPWAY_EVENTS", "chdb://.rampway/events")
    run_json("rollout", "start", FEATURE, "--candidate", "releases/assistant")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, chdb.session as s; x = s.Session(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read()", str(project / ".rampway/events")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run("rollout", "status", FEATURE, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] == "running"
        assert result.stderr.startswith("note: events: cannot open "), result.stderr
        assert "--server" in result.stderr and result.stderr.count("\n") == 1
    finally:
        holder.communicate("", timeout=30)


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


def _refused(fragment: str, db_url: str) -> None:
    with Store.open(db_url) as store:
        before = (count_rows(store, rollouts), len(store.list_audit(limit=1000)),
                  len(store.list_releases(FEATURE)))
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant", "--reason", "x"),
        fragment)
    with Store.open(db_url) as store:
        after = (count_rows(store, rollouts), len(store.list_audit(limit=1000)),
                 len(store.list_releases(FEATURE)))
    assert after == before  # not even the candidate was published


def test_start_without_a_passing_gate_is_refused_with_the_command_to_run(
    ungated: Path, db_url: str
) -> None:
    candidate, baseline = ids(ungated, db_url)
    command = f"rampway gate {FEATURE} --candidate releases/assistant --baseline {baseline}"
    _refused(f"candidate {candidate} has no recorded gate against 'production' ({baseline}): "
             f"run `{command}` first (or override with --skip-gate --reason", db_url)
    record(db_url, candidate, "assistant@0123abcd", "pass")  # against another baseline
    _refused("has no recorded gate", db_url)
    record(db_url, candidate, baseline, "pass")
    record(db_url, candidate, baseline, "fail")  # the newest decision counts
    _refused(f"the latest gate of candidate {candidate} against 'production' ({baseline}) "
             "is FAIL (#3, ", db_url)
    record(db_url, candidate, baseline, "inconclusive")
    _refused("is INCONCLUSIVE (#4, ", db_url)
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant", "--skip-gate"),
        "skipping the gate needs a reason")
    assert audit_actions(db_url) == []


def test_skip_gate_with_a_reason_starts_and_is_audited(ungated: Path, db_url: str) -> None:
    candidate, baseline = ids(ungated, db_url)
    record(db_url, candidate, baseline, "fail")
    started = run_json("rollout", "start", FEATURE, "--candidate", "releases/assistant",
                       "--skip-gate", "--reason", "P0 [hotfix], gate env down")
    assert started["status"] == "running"
    gate = started["gate"]
    assert gate["skipped"] is True and gate["reason"] == "P0 [hotfix], gate env down"  # type: ignore[index]
    assert gate["latest"]["verdict"] == "fail"  # type: ignore[index]
    assert audit_actions(db_url) == ["rollout.create", "rollout.gate_skipped", "rollout.start"]
    with Store.open(db_url) as store:
        skipped = [e for e in store.list_audit(object_type="rollout")
                   if e.action == "rollout.gate_skipped"]
    assert [(e.actor, e.reason) for e in skipped] == [
        ("tester@example.com", "P0 [hotfix], gate env down")]
    assert skipped[0].after["latest"]["candidate"] == candidate
    text = run("rollout", "status", FEATURE)
    assert text.exit_code == 0, text.output
    assert "gate: skipped: P0 [hotfix], gate env down (latest gate then: fail #1)" in text.stdout
    assert run_json("rollout", "status", FEATURE)["gate"] == gate


def test_a_feature_without_production_is_set_by_channel_not_rolled_out(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    root = tmp_path / "new"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    for extra in ([], ["--skip-gate", "--reason", "first launch"]):
        bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant", *extra),
            f"no 'production' channel to roll out from; set it first (rampway channel set "
            f"{FEATURE} production REF)")
    assert audit_actions(db_url) == []


def test_a_refused_start_or_gate_leaves_no_database_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh project (embedded SQLite not created yet): a rollout start has no baseline to
    start from and a gate of an unknown feature has no suite — both refused on one line,
    before a database file exists."""
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    assert not (root / ".rampway").exists()
    bad(run("rollout", "start", FEATURE, "--candidate", "releases/assistant", "--reason", "x"),
        f"set it first (rampway channel set {FEATURE} production REF)")
    bad(run("gate", "nosuch", "--candidate", "HEAD", "--sim-inprocess"),
        "no eval suite for 'nosuch'")
    assert not (root / ".rampway" / "rampway.db").exists()
