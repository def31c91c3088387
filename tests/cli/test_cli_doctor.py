"""`rampway doctor` on the example project: every check it made is reported, exit 0 when all
pass, 1 when one fails (an unroutable stored flag, an empty key variable, a provider that does
not answer). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.flags.store import FlagStore
from rampway.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def doctor(*args: str) -> tuple[int, dict[str, Any]]:
    result = run("doctor", "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "support-bot"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "ana@example.com")
    for var in ("RAMPWAY_PROJECT", "RAMPWAY_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(root)
    assert run("channel", "set", "support-bot", "production", "releases/support-bot",
               "--reason", "go").exit_code == 0
    # the example's `.model` rules swap production's model: audited override, not gated here
    assert run("flags", "push", "--skip-gate", "--reason", "example swaps").exit_code == 0
    return root


def test_doctor_reports_every_check_on_the_example_and_passes(project: Path) -> None:
    code, report = doctor()
    assert code == 0 and report["ok"] is True, report
    checks = by_name(report)
    for name in ("config", "release support-bot", "release extract-invoice", "release capitals",
                 "flag-files", "channel support-bot/production", "flags (store)"):
        assert checks[name]["status"] == "ok", (name, checks.get(name))
    assert "sim/sim-large → sim/sim-small" in checks["release support-bot"]["detail"]
    assert checks["channel support-bot/production"]["detail"].endswith("(protected: gate)")
    text = run("doctor")
    assert text.exit_code == 0 and "check(s), 0 failed" in text.stdout


def test_doctor_fails_on_a_stored_flag_that_became_unroutable(
    project: Path, db_url: str
) -> None:
    with Store.open(db_url) as store:  # written without the check, as before a catalog edit
        FlagStore(store).put("flag", "support-bot.model", {"type": "string",
                             "default": "sim/sim-huge"}, actor="t", reason="t", )
    code, report = doctor()
    assert code == 1 and report["ok"] is False
    failed = by_name(report)["flags (store)"]
    assert failed["status"] == "fail" and "sim/sim-huge has no catalog entry" in failed["detail"]


def test_doctor_fails_on_a_key_variable_that_is_set_but_empty(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project / "rampway.yaml"
    config.write_text(config.read_text().replace(
        "providers:\n", "providers:\n  openai: {kind: openai, api_key_env: OPENAI_KEY}\n", 1))
    monkeypatch.setenv("OPENAI_KEY", "  ")
    monkeypatch.setenv("RAMPWAY_API_KEY", "")
    code, report = doctor()
    checks = by_name(report)
    assert code == 1
    assert checks["env OPENAI_KEY (provider openai)"]["detail"].startswith(
        "OPENAI_KEY is set but empty")
    assert checks["env RAMPWAY_API_KEY"]["status"] == "fail"


def test_doctor_reach_calls_each_provider_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "rampway.yaml").write_text(
        "providers:\n  sim: {kind: sim}\n"
        '  down: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: DOWN_KEY}\n')
    monkeypatch.setenv("DOWN_KEY", "sk-test")
    monkeypatch.setenv("RAMPWAY_DB", f"sqlite:///{tmp_path / 'tiny.db'}")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    monkeypatch.chdir(root)
    code, report = doctor("--reach")
    checks = by_name(report)
    assert checks["reach sim"]["status"] == "ok", checks["reach sim"]
    assert checks["reach down"]["status"] == "fail" and code == 1
    assert checks["store"]["status"] == "skip"  # nothing published: no database was created
    assert not (tmp_path / "tiny.db").exists()


def test_doctor_checks_the_candidate_of_a_rollout_in_flight(project: Path) -> None:
    """The candidate was routable when the rollout started; a catalog edit since is caught."""
    config = project / "rampway.yaml"
    original = config.read_text()
    config.write_text(original.replace(
        "providers:\n", 'providers:\n  vllm: {kind: openai, base_url: "http://10.0.0.5/v1"}\n', 1)
        + "catalog:\n  - {provider: vllm, model: llama-3.1-8b, input_per_mtok: 0,"
          " output_per_mtok: 0, context_window: 8192}\n")
    candidate = project / "candidates" / "support-bot"
    shutil.copytree(project / "releases" / "support-bot", candidate)
    spec = candidate / "release.yaml"
    spec.write_text(spec.read_text().replace("provider: sim\nmodel: sim-large\n",
                                             "provider: vllm\nmodel: llama-3.1-8b\n", 1)
                    .replace("fallbacks: [sim-small]", "fallbacks: [sim/sim-small]", 1))
    started = run("rollout", "start", "support-bot", "--candidate", "candidates/support-bot",
                  "--skip-gate", "--reason", "self-hosted trial")
    assert started.exit_code == 0, started.output
    assert doctor()[0] == 0
    config.write_text(original.replace(
        "providers:\n", 'providers:\n  vllm: {kind: openai, base_url: "http://10.0.0.5/v1"}\n', 1))
    code, report = doctor()
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert code == 1 and [c["name"] for c in failed] == ["rollout support-bot #1", "serving"]
    assert "vllm/llama-3.1-8b has no catalog entry" in failed[0]["detail"]
    # /readyz would list the same reference; reported once, by the rollout's own check
    assert failed[1]["detail"] == "/readyz lists 1 unroutable reference(s): rollout support-bot"


def test_doctor_lists_the_pins_and_shadows_readyz_lists_after_a_config_edit(
    project: Path, db_url: str
) -> None:
    """A `.release` pin and a shadow candidate on provider `alt`, routable when written; once
    rampway.yaml drops `alt`, doctor fails on both, named as /readyz names them, and its
    `serving` line lists exactly what the gateway's reload reports (the same function)."""
    from rampway.config import load_project
    from rampway.gateway.control import ControlWatcher

    config = project / "rampway.yaml"
    original = config.read_text()
    config.write_text(original.replace(
        "providers:\n", 'providers:\n  alt: {kind: sim, base_url: "http://127.0.0.1:8900/v1"}\n',
        1))
    candidate = project / "candidates" / "alt"
    shutil.copytree(project / "candidates" / "sim-large-2", candidate)
    spec = candidate / "release.yaml"
    spec.write_text(spec.read_text().replace("provider: sim\n", "provider: alt\n", 1))
    (project / "shadows" / "alt.yaml").write_text(
        "feature: support-bot\ncandidates: [candidates/alt]\nsample: 10\nends: 7d\n"
        "budget: {usd_per_day: 1}\n")
    started = run("shadow", "start", "alt", "--reason", "alt on real requests", "--json")
    assert started.exit_code == 0, started.output
    [alt_id] = json.loads(started.stdout)["candidates"]
    with Store.open(db_url) as store:  # written when `alt` was routable
        FlagStore(store).put("flag", "support-bot.release", {
            "type": "string", "default": "production",
            "rules": [{"segment": "beta-testers", "value": alt_id}]}, actor="t", reason="beta")
    code, report = doctor()
    assert code == 0 and by_name(report)["serving"]["status"] == "ok", report

    config.write_text(original)
    code, report = doctor()
    failed = {c["name"]: c["detail"] for c in report["checks"] if c["status"] == "fail"}
    assert code == 1 and report["ok"] is False
    for what in ("flag support-bot.release", "shadow support-bot"):
        assert failed[what].startswith(f"{alt_id} model: provider 'alt'"), failed
    with Store.open(db_url) as store:
        watcher = ControlWatcher(store, load_project(project).config, config)
        watcher.refresh()
        readyz = [u.what for u in watcher.unroutable]
    assert readyz == ["flag support-bot.release", "shadow support-bot"]
    assert failed["serving"] == f"/readyz lists 2 unroutable reference(s): {', '.join(readyz)}"
    text = run("doctor")
    assert text.exit_code == 1 and "shadow support-bot" in text.stdout
