"""`rampway init && rampway release publish && rampway gate assistant --candidate
releases/assistant` works in an empty directory with nothing else: the starter has a release,
an eval suite and a policy on the in-process simulator, and a first release is gated against
an independent run of itself (nothing serves production yet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.providers import sim


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, no RAMPWAY_* settings (the embedded SQLite store). The
    simulator's waits are cut to 1% so the test is fast; the answers are the same."""
    for name in ("RAMPWAY_DB", "RAMPWAY_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAMPWAY_ACTOR", "new-user@example.com")
    load = sim.load_sim_config

    def fast(path: Path | None = None) -> sim.SimConfig:
        config = load(path)
        config.time_scale = 0.01
        return config

    monkeypatch.setattr(sim, "load_sim_config", fast)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_init_publish_gate_in_an_empty_directory(empty_dir: Path) -> None:
    assert run("init").exit_code == 0
    published = run("release", "publish")
    assert published.exit_code == 0 and published.stdout.startswith("new "), published.output
    gate = run("gate", "assistant", "--candidate", "releases/assistant")
    assert gate.exit_code == 0, gate.output
    assert gate.stdout.startswith("## ✅ rampway gate: **PASS** — `assistant`")
    assert "First release: nothing serves `production` yet" in gate.stdout
    assert "| quality |" in gate.stdout and "policies/assistant.yaml" in gate.stdout
    assert gate.stderr.startswith("assistant: first release:")
    assert (empty_dir / ".rampway" / "rampway.db").is_file()


def test_the_starter_then_goes_live_and_later_changes_are_gated_against_it(
    empty_dir: Path,
) -> None:
    """The first release goes live without a gate (an empty channel is not protected); the
    next gate compares with what production serves, and the policy has real work to do."""
    assert run("init").exit_code == 0
    first = gate_json()
    assert first["first_release"] is True and first["verdict"] == "pass"
    live = run("channel", "set", "assistant", "production", "releases/assistant",
               "--reason", "launch")
    assert live.exit_code == 0, live.output
    system = empty_dir / "releases" / "assistant" / "prompts" / "system.md"
    system.write_text(system.read_text().replace("within 30 days", "within 14 days"))
    changed = gate_json()
    assert changed["first_release"] is False
    assert changed["comparison"]["baseline"] != changed["comparison"]["candidate"]
    assert changed["verdict"] == "fail"
    failing = changed["decision"]["critical_failures"] + [
        c["case_id"] for c in changed["comparison"]["newly_failing"]]
    assert "return-window" in failing


def gate_json() -> dict[str, Any]:
    result = run("gate", "assistant", "--candidate", "releases/assistant", "--json")
    assert result.exit_code in (0, 1), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_the_starter_suite_names_every_scorer_type() -> None:
    from rampway.evals import SCORER_TYPES
    from rampway.scaffold import scaffold_files

    header = scaffold_files()["evals/assistant/suite.yaml"].split("\nfeature:")[0]
    assert [t for t in SCORER_TYPES if t not in header.replace("\n#", "")] == []
