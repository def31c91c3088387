"""`rampway init / release / channel / rollback` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.store import Store

FEATURE = "assistant"


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A freshly `rampway init`-ed project, cwd inside it, the store at `db_url`."""
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "tester@example.com")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    result = run("init", str(root))
    assert result.exit_code == 0, result.output
    unprotect_production(root)
    monkeypatch.chdir(root)
    return root


def unprotect_production(root: Path) -> None:
    """These tests are about moving channels, not about gating them (tests/cli/
    test_cli_interlocks.py covers protected channels): production moves freely here."""
    config = root / "rampway.yaml"
    config.write_text(config.read_text() + "\nchannels:\n  production: {require: []}\n")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict[str, object]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def assert_bad_input(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


def features_in_store(db_url: str) -> list[str]:
    store = Store.open(db_url)
    try:
        return store.list_features()
    finally:
        store.close()


def test_init_validate_publish_channel_rollback_history(project: Path) -> None:
    assert run("release", "validate").exit_code == 0
    first = run_json("release", "publish")["published"]
    assert [r["status"] for r in first] == ["new"]  # type: ignore[union-attr,index]
    v1 = first[0]["id"]  # type: ignore[index]
    again = run_json("release", "publish", FEATURE)["published"]
    assert again == [{"feature": FEATURE, "id": v1, "status": "unchanged"}]

    moved = run_json("channel", "set", FEATURE, "production", v1, "--reason", "launch")
    assert moved["release_id"] == v1 and moved["version"] == 1

    system = project / "releases" / FEATURE / "prompts" / "system.md"
    system.write_text(system.read_text() + "Always greet the user.\n")
    moved = run_json("channel", "set", FEATURE, "production", "releases/assistant",
                     "--reason", "greet")  # unpublished path ref: published on the way
    v2 = moved["release_id"]
    assert v2 != v1 and moved["previous_release_id"] == v1 and moved["version"] == 2

    diff = run_json("release", "diff", FEATURE, v1, "production")
    assert diff["a"] == v1 and diff["b"] == v2
    assert "+Always greet the user." in diff["files"][0]["diff"]  # type: ignore[index]

    back = run_json("rollback", FEATURE, "--reason", "too chatty")
    assert back["release_id"] == v1 and back["previous_release_id"] == v2
    assert run_json("release", "show", FEATURE, "production")["id"] == v1

    history = run_json("release", "history", FEATURE)
    moves = history["moves"]
    assert [m["kind"] for m in moves] == ["rollback", "set", "set"]  # type: ignore[index,union-attr]
    assert moves[0]["reason"] == "too chatty"  # type: ignore[index]
    assert moves[0]["actor"] == "tester@example.com"  # type: ignore[index]
    assert {r["release_id"] for r in history["releases"]} == {v1, v2}  # type: ignore[union-attr]
    channels = run_json("channel", "list", FEATURE)["channels"]
    assert [(c["channel"], c["release_id"]) for c in channels] == [("production", v1)]  # type: ignore[union-attr,index]

    text = run("release", "history", FEATURE)
    assert text.exit_code == 0 and "too chatty" in text.stdout


def test_text_output_of_show_and_diff(project: Path) -> None:
    shown = run("release", "show", FEATURE)
    assert shown.exit_code == 0 and "sim/sim-large" in shown.stdout
    assert "prompts/system.md" in shown.stdout
    assert "(app tools: refuse)" in shown.stdout  # a managed release owns its tools
    diff = run("release", "diff", FEATURE, "releases/assistant", "releases/assistant")
    assert diff.exit_code == 0 and "no changes" in diff.stdout


def test_project_option_from_elsewhere(project: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_bad_input(run("release", "validate"), "no rampway.yaml found")
    assert run("release", "validate", "--project", str(project)).exit_code == 0
    monkeypatch.setenv("RAMPWAY_PROJECT", str(project / "releases"))
    assert run_json("release", "validate")["ok"] is True


RELEASE_YAML = "releases/assistant/release.yaml"
SYSTEM_MD = "releases/assistant/prompts/system.md"
BAD_EDITS = {
    "malformed yaml": (RELEASE_YAML, lambda t: t + "params: [oops\n", "malformed YAML"),
    "missing prompt": (SYSTEM_MD, None, "prompt file not found"),
    "undeclared variable": (SYSTEM_MD, lambda t: t + "{{ tone }}\n", "'tone' is not declared"),
    "unused variable": (RELEASE_YAML, lambda t: t + "  tone: {required: false}\n",
                        "variables.tone: declared but not used"),
    "invalid tool schema": (RELEASE_YAML, lambda t: t.replace("params:", (
        "tools:\n  - {type: function, function: {name: f, parameters: {type: object, "
        "properties: 7}}}\nparams:")), "not a valid JSON Schema"),
    "invalid response schema": (RELEASE_YAML, lambda t: t.replace("params:", (
        "response_format: {type: json_schema, json_schema: {name: o, schema: "
        "{type: [1]}}}\nparams:")), "response_format.json_schema.schema"),
    "unknown tools_from_app": (RELEASE_YAML, lambda t: t + "tools_from_app: ignore\n",
                               "tools_from_app"),
    "unknown provider": (RELEASE_YAML, lambda t: t.replace("provider: sim", "provider: nope"),
                         "provider 'nope' (for sim-large) is not configured"),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_bad_release_input_exits_2_and_writes_nothing(
    project: Path, db_url: str, case: str
) -> None:
    rel, edit, fragment = BAD_EDITS[case]
    path = project / rel
    if edit is None:
        path.unlink()
    else:
        path.write_text(edit(path.read_text()))
    assert_bad_input(run("release", "publish"), fragment)
    result = run("release", "validate")
    assert result.exit_code == 2 and fragment in result.stderr
    assert run_json_failure("release", "validate")["ok"] is False
    assert_bad_input(run("channel", "set", FEATURE, "production", "releases/assistant",
                         "--reason", "x"), fragment)
    assert features_in_store(db_url) == []


def test_publish_records_a_reason_and_refuses_a_blank_one(project: Path, db_url: str) -> None:
    for blank in ("", "  "):
        assert_bad_input(run("release", "publish", "--reason", blank),
                         "publishing releases needs a reason")
    assert features_in_store(db_url) == []
    [first] = run_json("release", "publish", "--reason", "first prompt")["published"]
    system = project / "releases" / FEATURE / "prompts" / "system.md"
    system.write_text(system.read_text() + "Be brief.\n")
    [second] = run_json("release", "publish")["published"]  # a descriptive default
    with Store.open(db_url) as store:
        reasons = {e.object_id: e.reason for e in store.list_audit(object_type="release")}
    assert reasons == {first["id"]: "first prompt",  # type: ignore[index]
                       second["id"]: "release publish"}  # type: ignore[index]


def run_json_failure(*args: str) -> dict[str, object]:
    result = run(*args, "--json")
    assert result.exit_code == 2
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("release", "show", FEATURE, "no-such-ref"), "unknown ref 'no-such-ref'"),
        (("release", "diff", FEATURE, "HEAD~3", "releases/assistant"), "unknown ref 'HEAD~3'"),
        (("release", "publish", "ghost"), "no release for feature 'ghost'"),
        (("release", "history", FEATURE), "has no published releases"),
        (("channel", "set", FEATURE, "prod uction", "releases/assistant", "--reason", "x"),
         "invalid channel name"),
        (("channel", "set", FEATURE, "production", "zzzz", "--reason", "x"), "unknown ref 'zzzz'"),
        (("channel", "set", FEATURE, "production", "releases/assistant", "--reason", " "),
         "moving a channel needs a reason"),
        (("rollback", FEATURE), "unknown channel 'production'"),
        (("rollback", FEATURE, "--channel", "candidate"), "unknown channel 'candidate'"),
    ],
)
def test_bad_refs_and_names_exit_2_and_write_nothing(
    project: Path, db_url: str, args: tuple[str, ...], fragment: str
) -> None:
    assert_bad_input(run(*args), fragment)
    assert features_in_store(db_url) == []


def test_stale_expected_version_fails_without_moving(project: Path) -> None:
    v1 = run_json("channel", "set", FEATURE, "production", "releases/assistant",
                  "--reason", "a")["release_id"]
    (project / SYSTEM_MD).write_text("Changed. {{ product_name }}\n")
    stale = run("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "b",
                "--expected-version", "0")
    assert_bad_input(stale, "version 1, not 0")
    state = run_json("channel", "list", FEATURE)["channels"][0]  # type: ignore[index]
    assert state["release_id"] == v1 and state["version"] == 1
    ok = run_json("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "b",
                  "--expected-version", "1")
    assert ok["version"] == 2


def test_rollback_with_no_earlier_release(project: Path) -> None:
    run_json("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "a")
    assert_bad_input(run("rollback", FEATURE), "nothing to roll back to")


def test_init_refuses_an_existing_project(project: Path) -> None:
    before = (project / "rampway.yaml").read_text()
    assert_bad_input(run("init", str(project)), "already a project")
    assert (project / "rampway.yaml").read_text() == before


def test_git_revision_diff_needs_no_database(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "repo"
    assert run("init", str(root)).exit_code == 0
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e.x", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    (root / SYSTEM_MD).write_text("Shorter. {{ product_name }}\n")
    git("commit", "-qam", "two")
    monkeypatch.chdir(root)
    doc = run_json("release", "diff", FEATURE, "HEAD~1", "HEAD")
    assert doc["files"][0]["status"] == "modified"  # type: ignore[index]
    assert "+Shorter." in doc["files"][0]["diff"]  # type: ignore[index]
    text = run("release", "diff", FEATURE, "HEAD~1", "HEAD")
    assert text.exit_code == 0 and "Shorter." in text.stdout
    assert not (root / ".rampway").exists()
