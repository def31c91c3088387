"""`rampway channel set` and `rampway rollback` with `--server URL`: through a real gateway's
admin API (127.0.0.1:0), key from $RAMPWAY_API_KEY, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))

from gateway_helpers import serve  # noqa: E402

import rampway.cli._register  # noqa: E402, F401  (attaches the commands)
from rampway.admin import Role, create_admin_key  # noqa: E402
from rampway.cli import app  # noqa: E402
from rampway.config import load_project  # noqa: E402
from rampway.gateway import Runtime  # noqa: E402
from rampway.store import Store  # noqa: E402

FEATURE = "assistant"


def unprotect_production(root: Path) -> None:
    """These tests are about moving channels, not about gating them (tests/cli/
    test_cli_interlocks.py covers protected channels): production moves freely here."""
    config = root / "rampway.yaml"
    config.write_text(config.read_text() + "\nchannels:\n  production: {require: []}\n")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_bad(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `rampway init`-ed project (cwd), its store at `db_url`."""
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "local-user")
    for name in ("RAMPWAY_PROJECT", "RAMPWAY_SERVER", "RAMPWAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    unprotect_production(root)
    monkeypatch.chdir(root)
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


def test_channel_set_and_rollback_through_a_running_server(
    project: Path, store: Store, server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAMPWAY_API_KEY", _key(store, Role.EDITOR))
    first = run_json("channel", "set", FEATURE, "production", "releases/assistant",
                     "--reason", "launch", "--server", server)  # a local path: published first
    v1 = first["release_id"]
    assert (first["version"], first["previous_release_id"]) == (1, None)
    assert store.get_release(FEATURE, v1).created_by == "editor-key"

    system = project / "releases" / FEATURE / "prompts" / "system.md"
    system.write_text(system.read_text() + "Always greet the user.\n")
    second = run_json("channel", "set", FEATURE, "production", "releases/assistant",
                      "--reason", "greet", "--expected-version", "1", "--server", server)
    v2 = second["release_id"]
    assert v2 != v1 and second["previous_release_id"] == v1 and second["version"] == 2

    # refs the server resolves, from a directory with no project at all
    monkeypatch.chdir(tmp_path)
    canary = run_json("channel", "set", FEATURE, "canary", "production", "--reason", "mirror",
                      "--server", server)
    assert canary["release_id"] == v2
    by_id = run_json("channel", "set", FEATURE, "canary", v1[: len(FEATURE) + 7],
                     "--reason", "older", "--server", server)
    assert (by_id["release_id"], by_id["previous_release_id"]) == (v1, v2)
    assert_bad(run("channel", "set", FEATURE, "canary", "releases/assistant", "--reason", "x",
                   "--server", server), "no local project")

    moves = len(store.channel_history(FEATURE))
    assert_bad(run("channel", "set", FEATURE, "production", v1, "--reason", "stale",
                   "--expected-version", "1", "--server", server), "version 2, not 1")
    assert_bad(run("rollback", FEATURE, "--expected-version", "1", "--server", server),
               "moved since you read it")
    assert len(store.channel_history(FEATURE)) == moves

    back = run_json("rollback", FEATURE, "--reason", "too chatty", "--expected-version", "2",
                    "--server", server)
    assert (back["release_id"], back["previous_release_id"], back["version"]) == (v1, v2, 3)
    text = run("rollback", FEATURE, "--channel", "canary", "--server", server)
    assert text.exit_code == 0 and f"canary → {v2} (was {v1}), version 3" in text.stdout
    newest = store.channel_history(FEATURE, "production", limit=1)[0]
    assert (newest.kind, newest.actor, newest.reason) == ("rollback", "editor-key", "too chatty")
    audit = store.list_audit(object_type="channel", limit=100)
    assert {a.actor for a in audit} == {"editor-key"}


def test_server_refusals_are_one_line_and_change_nothing(
    project: Path, store: Store, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_json("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "go")
    moves = len(store.channel_history(FEATURE))
    assert_bad(run("rollback", FEATURE, "--server", server), "RAMPWAY_API_KEY")
    monkeypatch.setenv("RAMPWAY_API_KEY", _key(store, Role.VIEWER))
    assert_bad(run("rollback", FEATURE, "--server", server), "needs editor")
    assert_bad(run("channel", "set", FEATURE, "canary", "production", "--reason", "x",
                   "--server", server), "needs editor")
    monkeypatch.setenv("RAMPWAY_API_KEY", "rwa_wrong")
    assert_bad(run("rollback", FEATURE, "--server", server), "invalid or revoked")
    monkeypatch.setenv("RAMPWAY_API_KEY", _key(store, Role.EDITOR))
    assert_bad(run("rollback", FEATURE, "--server", server), "nothing to roll back to")
    assert_bad(run("rollback", FEATURE, "--channel", "nope", "--server", server),
               "unknown channel")
    assert_bad(run("channel", "set", FEATURE, "canary", "no-such-ref", "--reason", "x",
                   "--server", server), "no-such-ref")
    assert_bad(run("rollback", FEATURE, "--server", "http://127.0.0.1:1"), "cannot reach")
    assert len(store.channel_history(FEATURE)) == moves


def test_direct_rollback_honours_expected_version(project: Path, store: Store) -> None:
    v1 = run_json("channel", "set", FEATURE, "production", "releases/assistant",
                  "--reason", "go")["release_id"]
    system = project / "releases" / FEATURE / "prompts" / "system.md"
    system.write_text(system.read_text() + "Be brief.\n")
    run_json("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "brief")
    assert_bad(run("rollback", FEATURE, "--expected-version", "1"), "moved since you read it")
    back = run_json("rollback", FEATURE, "--expected-version", "2")
    assert back["release_id"] == v1 and back["version"] == 3
    assert store.channel_history(FEATURE, limit=1)[0].actor == "local-user"
