"""`rampway shadow …` on both databases: validate/start/status/list/stop with --json, the audit
trail, bad input as one line with exit 2 and nothing started, and the same through --server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from gateway_helpers import Proj, first_use_migrates, make_project
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the sub-commands)
from rampway.admin import Role, create_admin_app, create_admin_key
from rampway.cli import app
from rampway.shadow import repo
from rampway.store import Store

runner = CliRunner()


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
def lite(tmp_path: Path) -> Proj:
    """Refusals happen before any write: one database is enough for them."""
    return make_project(tmp_path, f"sqlite:///{tmp_path / 'lite.db'}")


def _write(proj: Proj, name: str, **overrides: Any) -> None:
    data: dict[str, Any] = {"feature": "support-bot", "candidates": [proj.v2.id[:20]],
                            "sample": 25, "twin": 10,
                            "budget": {"usd_per_day": 2, "requests_per_s": 5}}
    data.update(overrides)
    path = proj.project.root / "shadows" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def _run(proj: Proj, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [*args, "--project", str(proj.project.root)],
                         env={"RAMPWAY_ACTOR": "ana", **(env or {})})


def _started(proj: Proj) -> list[Any]:
    with Store.open(proj.db_url) as store:
        return repo.recent(store)


def test_validate_start_status_list_stop(proj: Proj) -> None:
    _write(proj, "v2-on-prod")
    out = _run(proj, "shadow", "validate", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["shadows"][0]["name"] == "v2-on-prod"
    out = _run(proj, "shadow", "start", "v2-on-prod", "--reason", "before 1%", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert (doc["candidates"], doc["sample_pct"], doc["state"]) == ([proj.v2.id], 25, "mirroring")
    out = _run(proj, "shadow", "status", "v2-on-prod")
    assert out.exit_code == 0 and "mirroring 25% of eligible requests" in out.stdout
    out = _run(proj, "shadow", "list", "--json")
    assert [s["name"] for s in json.loads(out.stdout)["shadows"]] == ["v2-on-prod"]
    out = _run(proj, "shadow", "stop", "v2-on-prod", "--reason", "enough", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout)["state"] == "stopped"
    with Store.open(proj.db_url) as store:
        actions = [a.action for a in store.list_audit(object_type="shadow")]
    assert sorted(actions) == ["shadow.start", "shadow.stop"]


BAD = [
    ({"feature": "nope"}, "unknown feature 'nope'"),
    ({"candidates": ["no-such-ref"]}, "unknown ref 'no-such-ref'"),
    ({"candidates": ["production"]}, "is what 'production' already serves"),
    ({"sample": 120}, "sample must be a percentage within 0–100"),
    ({"budget": {"usd_per_day": 0}}, "a budget must be > 0"),
    ({"condition": {"plan": {"$bogus": 1}}}, "the condition does not compile"),
    ({"candidates": ["releases/support-bot"]}, "has no catalog entry"),  # sim-hugee
]


def test_bad_input_is_one_line_exit_2_and_nothing_starts(lite: Proj, tmp_path: Path) -> None:
    release = tmp_path / "proj" / "releases" / "support-bot"
    release.mkdir(parents=True)
    (release / "release.yaml").write_text(yaml.safe_dump(
        {"provider": "sim", "model": "sim-hugee", "mode": "passthrough"}), encoding="utf-8")
    for overrides, why in BAD:
        _write(lite, "bad", **overrides)
        out = _run(lite, "shadow", "start", "bad")
        assert out.exit_code == 2, (overrides, out.output)
        assert out.stderr.count("\n") == 1 and why in out.stderr, out.stderr
    assert _started(lite) == []
    _write(lite, "v2-on-prod")
    assert _run(lite, "shadow", "start", "v2-on-prod").exit_code == 0
    out = _run(lite, "shadow", "start", "v2-on-prod")
    assert out.exit_code == 2 and "already running" in out.stderr
    assert len(_started(lite)) == 1


@pytest.fixture
def server(proj: Proj) -> Iterator[tuple[str, str]]:
    """The admin API on a real socket (the CLI's --server talks HTTP), and an editor key."""
    store = Store.open(proj.db_url)
    key = create_admin_key(store, "ci", Role.EDITOR, actor="setup", reason="test")[1]
    config = uvicorn.Config(create_admin_app(store, project=proj.project), host="127.0.0.1",
                            port=0, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        srv.should_exit = True
        thread.join(10)
        store.close()


def test_the_same_commands_through_a_server(proj: Proj, server: tuple[str, str]) -> None:
    url, key = server
    env = {"RAMPWAY_API_KEY": key}
    _write(proj, "remote", candidates=["v2-dir"])
    staging = proj.project.root.parent / "staging" / "v2" / "support-bot"
    (proj.project.root / "v2-dir").symlink_to(staging, target_is_directory=True)
    out = _run(proj, "shadow", "start", "remote", "--server", url, "--json", env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["candidates"] == [proj.v2.id]
    out = _run(proj, "shadow", "status", "remote", "--server", url, "--json", env=env)
    assert json.loads(out.stdout)["pairs"] == {"candidate": 0, "twin": 0}
    out = _run(proj, "shadow", "stop", "remote", "--server", url, "--reason", "x", env=env)
    assert out.exit_code == 0, out.output
    (record,) = _started(proj)
    assert (record.status, record.actor, record.stopped_by) == ("stopped", "ci", "ci")
    out = _run(proj, "shadow", "stop", "remote", "--server", url, "--reason", "x", env=env)
    assert out.exit_code == 2 and "already stopped" in out.stderr
