"""`rampway rollout … --server URL`: every subcommand through a real gateway's admin API
(127.0.0.1:0, key from $RAMPWAY_API_KEY) prints what the same command prints on the store —
text and --json — and refusals are one line, exit 2, nothing written; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))
sys.path.insert(0, str(Path(__file__).parents[1] / "rollout"))

from gateway_helpers import serve  # noqa: E402
from rollout_helpers import count_rows, give_gate_basis, record_verdict  # noqa: E402

import rampway.cli._register  # noqa: E402, F401  (attaches the commands)
from rampway.admin import Role, create_admin_key  # noqa: E402
from rampway.cli import app  # noqa: E402
from rampway.config import load_project  # noqa: E402
from rampway.gateway import Runtime  # noqa: E402
from rampway.release import resolve_ref  # noqa: E402
from rampway.rollout.tables import rollouts  # noqa: E402
from rampway.store import Store  # noqa: E402

FEATURE = "assistant"
PLAN = """\
steps:
  - {weight: 10, dwell: 1h}
  - {weight: 100}
guardrails:
  - {metric: error_rate, critical: true, min_sample: 50}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def text(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_bad(result: Result, fragment: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An init-ed project (cwd): production → v1, the working tree edited (v2), a plan."""
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "local-user")
    for name in ("RAMPWAY_PROJECT", "RAMPWAY_SERVER", "RAMPWAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
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


@pytest.fixture
def store(project: Path, db_url: str) -> Iterator[Store]:
    opened = Store.open(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def server(project: Path, store: Store) -> Iterator[str]:
    with serve(Runtime.from_project(load_project(project), store=store)) as url:
        yield url


def _key(store: Store, role: Role) -> str:
    return create_admin_key(store, f"{role.value}-key", role, actor="setup", reason="test")[1]


def _pair(project: Path, store: Store) -> tuple[str, str]:
    """(the working tree's release id — not published yet, production's release id)."""
    candidate = resolve_ref(load_project(project), FEATURE, "releases/assistant").id
    channel = store.get_channel(FEATURE, "production")
    assert channel is not None
    return candidate, channel.release_id


def _written(store: Store) -> tuple[int, int, int]:
    return (count_rows(store, rollouts), len(store.list_audit(limit=10_000)),
            len(store.list_releases(FEATURE)))


def test_every_rollout_command_through_a_server_prints_what_the_store_path_prints(
    project: Path, store: Store, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAMPWAY_API_KEY", _key(store, Role.EDITOR))
    remote = ("--server", server)
    candidate, baseline = _pair(project, store)
    record_verdict(store, candidate, baseline, feature=FEATURE,
                   suite_digest=give_gate_basis(project, FEATURE))
    started = run_json("rollout", "start", FEATURE, "--candidate", "releases/assistant",
                       "--reason", "greet users", *remote)
    assert (started["status"], started["weight_pct"], started["candidate"]) == (
        "running", 10, candidate)
    assert started["gate"]["verdict"] == "pass"
    assert store.get_release(FEATURE, candidate).created_by == "editor-key"  # via the API
    assert {e.actor for e in store.list_audit(object_type="rollout")} == {"editor-key"}

    for args in (("rollout", "status", FEATURE), ("rollout", "list"),
                 ("rollout", "list", FEATURE, "--active")):
        assert run_json(*args, *remote) == run_json(*args)
        assert text(*args, *remote) == text(*args)
    status = run_json("rollout", "status", FEATURE, *remote)
    assert status["evaluation"]["srm"]["verdict"] == "no_data"
    assert "sample ratio: no_data" in text("rollout", "status", FEATURE, *remote)

    paused_remote = text("rollout", "pause", FEATURE, "--reason", "look", *remote)
    assert run_json("rollout", "resume", FEATURE, "--reason", "go", *remote)["status"] == "running"
    paused_local = text("rollout", "pause", FEATURE, "--reason", "look")
    assert paused_remote == paused_local
    assert paused_remote.startswith(f"{FEATURE}#1 pause: paused, candidate {candidate} at 10% ")
    resumed = run_json("rollout", "resume", FEATURE, "--reason", "go", *remote)
    now = run_json("rollout", "status", FEATURE)
    assert resumed == {key: now[key] for key in resumed}  # a command answers the brief

    before = _written(store)
    for name, fragment in (("resume", "cannot resume: rollout is running, not paused"),
                           ("approve", "cannot approve: rollout is running")):
        line = assert_bad(run("rollout", name, FEATURE, "--reason", "x", *remote), fragment)
        assert line == assert_bad(run("rollout", name, FEATURE, "--reason", "x"), fragment)
    assert_bad(run("rollout", "pause", FEATURE, "--reason", " ", *remote),
               "a reason is required")
    assert _written(store) == before

    done = run_json("rollout", "rollback", FEATURE, "--reason", "tickets", *remote)
    assert done["status"] == "rolled_back" and done["weight_pct"] == 0
    before = _written(store)
    for name in ("pause", "resume", "approve", "promote", "abort", "rollback"):
        line = assert_bad(run("rollout", name, FEATURE, "--reason", "x", *remote),
                          f"its latest, #1, is already rolled_back; nothing to {name}")
        assert line == assert_bad(run("rollout", name, FEATURE, "--reason", "x"), "#1")
    assert _written(store) == before
    actions = [(e.action, e.actor) for e in reversed(store.list_audit(object_type="rollout"))]
    assert actions == [("rollout.create", "editor-key"), ("rollout.start", "editor-key"),
                       ("rollout.pause", "editor-key"), ("rollout.resume", "editor-key"),
                       ("rollout.pause", "local-user"), ("rollout.resume", "editor-key"),
                       ("rollout.rollback", "editor-key")]
    assert run_json("rollout", "list", "--active", *remote) == {"rollouts": []}


def test_start_through_a_server_of_a_ref_the_server_knows_from_anywhere(
    project: Path, store: Store, server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAMPWAY_API_KEY", _key(store, Role.EDITOR))
    candidate, baseline = _pair(project, store)
    assert run("release", "publish", FEATURE).exit_code == 0
    record_verdict(store, candidate, baseline, feature=FEATURE,
                   suite_digest=give_gate_basis(project, FEATURE))
    monkeypatch.chdir(tmp_path)  # no local project: no plan file, the server's plan applies
    started = run_json("rollout", "start", FEATURE, "--candidate", candidate[:14],
                       "--server", server)
    assert started["candidate"] == candidate and started["weight_pct"] == 10  # the server's plan
    shown = run("rollout", "status", FEATURE, "--server", server)
    assert shown.exit_code == 0 and f"{FEATURE}#1 running" in shown.stdout
    promoted = run_json("rollout", "promote", FEATURE, "--reason", "ship", "--server", server)
    assert promoted["status"] == "completed"
    assert store.get_channel(FEATURE, "production").release_id == candidate  # type: ignore[union-attr]


def test_refusals_through_a_server_are_one_line_and_write_nothing(
    project: Path, store: Store, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = ("--server", server)
    candidate, baseline = _pair(project, store)
    start = ("rollout", "start", FEATURE, "--candidate", "releases/assistant", "--reason", "x")
    viewer, editor = _key(store, Role.VIEWER), _key(store, Role.EDITOR)
    before = _written(store)
    assert_bad(run(*start, *remote), "RAMPWAY_API_KEY")
    monkeypatch.setenv("RAMPWAY_API_KEY", viewer)
    assert_bad(run(*start, *remote), "needs editor")
    monkeypatch.setenv("RAMPWAY_API_KEY", editor)
    local = assert_bad(run(*start), f"candidate {candidate} has no recorded gate")
    assert assert_bad(run(*start, *remote), "has no recorded gate") == local  # same hint
    assert_bad(run(*start[:5], "--skip-gate", *remote), "skipping the gate needs a reason")
    assert_bad(run("rollout", "start", FEATURE, "--candidate", "production", *remote),
               "nothing to roll out")
    assert_bad(run("rollout", "start", FEATURE, "--candidate", "no-such-ref", *remote),
               "no-such-ref")
    (project / "bad.yaml").write_text("steps: [{weight: 50}, {weight: 10}]\n")
    assert_bad(run(*start, "--plan", "bad.yaml", *remote), "bad.yaml:1: steps: step weights")
    assert_bad(run("rollout", "status", FEATURE, *remote), f"feature '{FEATURE}' has no rollouts")
    assert_bad(run("rollout", "pause", FEATURE, "--reason", "x", *remote), "has no rollouts")
    assert_bad(run("rollout", "list", "--limit", "0", *remote), "--limit must be between")
    assert_bad(run("rollout", "status", FEATURE, "--server", "http://127.0.0.1:1"),
               "cannot reach")
    assert _written(store) == before  # not even the candidate was published

    record_verdict(store, candidate, baseline, feature=FEATURE,
                   suite_digest=give_gate_basis(project, FEATURE))
    assert run_json(*start, *remote)["status"] == "running"
    before = _written(store)
    assert_bad(run(*start, *remote), "already has an active rollout (#1, running at 10%)")
    assert _written(store) == before
