"""`rampway channel set --server URL` obeys the interlocks the server enforces: a protected
production refuses an ungated release (422, one line, exit 2), `--skip-gate` needs an admin key,
and a typo'd feature is not published into existence. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

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


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def served(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[Path, Store, str]]:
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "local-user")
    for name in ("RAMPWAY_PROJECT", "RAMPWAY_SERVER", "RAMPWAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    with Store.open(db_url) as store, serve(
            Runtime.from_project(load_project(root), store=store)) as url:
        yield root, store, url


def test_protected_production_and_typos_through_the_server(
    served: tuple[Path, Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, store, url = served
    key = {r: create_admin_key(store, f"{r.value}-key", r, actor="setup",
                               reason="test")[1] for r in Role}
    monkeypatch.setenv("RAMPWAY_API_KEY", key[Role.EDITOR])
    first = run("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "go",
                "--server", url)
    assert first.exit_code == 0, first.output  # an empty channel: nothing to gate against
    system = root / "releases" / FEATURE / "prompts" / "system.md"
    system.write_text(system.read_text() + "Always greet the user.\n")
    change = ("channel", "set", FEATURE, "production", "releases/assistant", "--reason", "greet",
              "--server", url)
    refused(run(*change), "channel 'production' of assistant is protected", "rampway gate")
    refused(run(*change, "--skip-gate"), "needs admin")
    monkeypatch.setenv("RAMPWAY_API_KEY", key[Role.ADMIN])
    moved = run(*change, "--skip-gate", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["version"] == 2
    refused(run("channel", "set", "asistant", "canary", "releases/assistant", "--reason", "x",
                "--server", url), "unknown feature 'asistant'", "known: assistant")
    assert store.list_features() == [FEATURE]
