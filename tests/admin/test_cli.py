"""`rampway flags …` and `rampway api-keys …` on the store and through `--server` (a real
gateway on 127.0.0.1:0), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_helpers import Proj, serve
from rollout_helpers import give_gate_basis, record_verdict
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.gateway import Runtime
from rampway.release.protect import model_swap
from rampway.store import Store

EXAMPLE = Path(__file__).parents[2] / "examples" / "support-bot" / "flags" / "support-bot.yaml"


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


def gate_model_swaps(proj: Proj, *models: str) -> None:
    """A recorded PASS, against production (v1), of v1 with each of `models`: what the example's
    `support-bot.model` rules need before they may serve them (`guard_model`)."""
    digest = give_gate_basis(proj.project.root, "support-bot")
    with Store.open(proj.db_url) as store:
        for model in models:
            swapped = model_swap(proj.v1, "sim", model)
            record_verdict(store, swapped.id, proj.v1.id, suite_digest=digest)


@pytest.fixture
def root(proj: Proj, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project root with the example's flags file, as cwd; its model swaps gated."""
    root = proj.project.root
    (root / "flags").mkdir()
    shutil.copy(EXAMPLE, root / "flags" / "support-bot.yaml")
    gate_model_swaps(proj, "sim-small", "sim-large-2")
    monkeypatch.chdir(root)
    monkeypatch.setenv("RAMPWAY_ACTOR", "ana@example.com")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    monkeypatch.delenv("RAMPWAY_SERVER", raising=False)
    return root


def test_validate_the_example_and_name_file_and_line_of_a_broken_file(root: Path) -> None:
    out = run_json("flags", "validate")
    assert "support-bot.enabled" in out["flags"] and "beta-testers" in out["segments"]
    bad = root / "flags" / "zz.yaml"
    bad.write_text("flags:\n  x:\n    type: bool\n    default: maybe\n")
    assert_bad(run("flags", "validate"), "zz.yaml:4")


def test_push_list_show_set_delete_on_the_store(root: Path) -> None:
    report = run_json("flags", "push", "--reason", "first push")
    assert "flag:support-bot.model" in report["created"]
    assert "segment:beta-testers" in report["created"]
    assert run_json("flags", "push")["unchanged"]
    listed = run_json("flags", "list")["flags"]
    model = next(f for f in listed if f["key"] == "support-bot.model")
    assert model["source"] == "file" and model["file"] == "flags/support-bot.yaml"
    shown = run_json("flags", "show", "support-bot.enabled")
    off = json.dumps({"type": "bool", "default": False})
    assert_bad(run("flags", "set", "support-bot.enabled", "--definition", off,
                   "--expected-version", str(shown["version"] + 1), "--reason", "incident"),
               "not 2")
    rec = run_json("flags", "set", "support-bot.enabled", "--definition", off,
                   "--expected-version", str(shown["version"]), "--reason", "incident")
    assert rec["version"] == 2 and rec["source"] == "api"
    assert_bad(run("flags", "push"), "flag:support-bot.enabled")
    forced = run_json("flags", "push", "--force")
    assert forced["overwritten"] == ["flag:support-bot.enabled"]
    assert_bad(run("flags", "delete", "beta-testers", "--segment"), "needs a reason")
    assert_bad(run("flags", "delete", "beta-testers", "--segment", "--reason", "tidy"),
               "unknown segment")
    ev = run_json("flags", "eval", "support-bot.model", "--context", '{"plan": "free"}')
    assert ev["value"] == "sim/sim-small" and ev["variant"] == "free-tier-small"


def test_bad_cli_input_is_one_line_exit_2(root: Path) -> None:
    assert_bad(run("flags", "set", "f"), "exactly one of --file or --definition")
    assert_bad(run("flags", "set", "f", "--definition", "{type: bool, default: 3}"),
               "writing f needs a reason")
    assert_bad(run("flags", "set", "f", "--definition", "{type: bool, default: 3}",
                   "--reason", "   "), "writing f needs a reason")
    assert_bad(run("flags", "set", "f", "--definition", "{type: bool, default: 3}",
                   "--reason", "x"), "not of the flag's type")
    assert_bad(run("flags", "eval", "f", "--context", "[1]"), "JSON object")
    for json_too in ([], ["--json"]):  # an unknown flag is bad input in both forms (#17 item 8)
        unknown = run("flags", "eval", "no-such-flag", *json_too)
        assert_bad(unknown, "no-such-flag")
        assert unknown.stdout == ""
    assert_bad(run("flags", "show", "nope"), "no flag 'nope'")
    assert_bad(run("api-keys", "create", "x", "--role", "root"), "unknown role")
    assert_bad(run("flags", "list", "--server", "http://127.0.0.1:1"), "RAMPWAY_API_KEY")
    assert_bad(run("flags", "list", "--server", "ftp://x"), "http(s) URL")


@pytest.fixture
def server(proj: Proj, root: Path) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


def test_flags_and_keys_through_a_running_server(
    root: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_bad(run("api-keys", "create", "ana", "--role", "admin"),
               "creating admin key 'ana' needs a reason")
    admin = run_json("api-keys", "create", "ana", "--role", "admin", "--reason", "bootstrap")["key"]
    monkeypatch.setenv("RAMPWAY_API_KEY", admin)
    assert_bad(run("api-keys", "create", "ci", "--role", "editor", "--server", server,
                   "--reason", " "), "creating admin key 'ci' needs a reason")
    editor = run_json("api-keys", "create", "ci", "--role", "editor", "--server", server,
                      "--reason", "deploys")["key"]
    assert {k["name"] for k in run_json("api-keys", "list", "--server", server)["keys"]} == {
        "ana", "ci"}
    monkeypatch.setenv("RAMPWAY_API_KEY", editor)
    dry = run_json("flags", "push", "--dry-run", "--server", server)
    assert dry["dry_run"] and "flag:support-bot.model" in dry["created"]
    assert run_json("flags", "list", "--server", server)["flags"] == []
    pushed = run_json("flags", "push", "--server", server, "--reason", "ci deploy")
    assert "flag:support-bot.enabled" in pushed["created"]
    shown = run_json("flags", "show", "support-bot.max_tokens", "--server", server)
    assert shown["updated_by"] == "ci" and shown["file"] == "flags/support-bot.yaml"
    spec = root / "cap.yaml"
    spec.write_text(yaml.safe_dump({"type": "number", "default": 300}))
    assert_bad(run("flags", "set", "support-bot.max_tokens", "--file", str(spec),
                   "--expected-version", "7", "--server", server, "--reason", "cheaper"),
               "version")
    rec = run_json("flags", "set", "support-bot.max_tokens", "--file", str(spec),
                   "--expected-version", "1", "--server", server, "--reason", "cheaper")
    assert rec["version"] == 2
    assert_bad(run("flags", "push", "--server", server), "flag:support-bot.max_tokens")
    assert_bad(run("flags", "delete", "support-bot.new-ticket-form", "--server", server),
               "needs a reason")
    assert run_json("flags", "delete", "support-bot.new-ticket-form", "--server", server,
                    "--reason", "shipped")["deleted"]["key"] == "support-bot.new-ticket-form"
    assert_bad(run("api-keys", "list", "--server", server), "needs admin")
    monkeypatch.setenv("RAMPWAY_API_KEY", "rwa_wrong")
    assert_bad(run("flags", "list", "--server", server), "invalid or revoked")
    monkeypatch.setenv("RAMPWAY_API_KEY", admin)
    assert_bad(run("api-keys", "revoke", "ci", "--server", server),
               "revoking admin key 'ci' needs a reason")
    run_json("api-keys", "revoke", "ci", "--server", server, "--reason", "rotated")
    monkeypatch.setenv("RAMPWAY_API_KEY", editor)
    assert_bad(run("flags", "list", "--server", server), "invalid or revoked")
