"""`rampway models upgrade` end to end: files, draft in the store, the gate over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lifecycle_helpers import make_project, publish_production, sim_config
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.gate import latest_gate
from rampway.providers.sim._config import apply_patch, load_sim_config
from rampway.providers.sim._server import SimServer
from rampway.release import load_release
from rampway.store import Store
from rampway.store.schema import audit_log


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(apply_patch(load_sim_config(), sim_config())) as server:
        yield server


def run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--project", str(root)])


def test_upgrade_writes_a_draft_candidate_and_gates_it(
    tmp_path: Path, db_url: str, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAMPWAY_ACTOR", "ana@example.com")
    proj = make_project(tmp_path / "p", db_url, sim.base_url,
                        catalog=[{"provider": "sim", "model": "sim-large-2",
                                  "unsupported_params": ["top_p"]}])
    base = publish_production(proj)
    result = run(proj.root, "models", "upgrade", "bot", "--as-of", "2027-01-10", "--json")
    assert result.exit_code in (0, 1, 3), result.output
    doc = json.loads(result.stdout)["upgrades"][0]
    assert doc["description"] == ("sim-large → sim-large-2, reason: deprecation 2027-02-01; "
                                  "params.top_p=0.9 dropped: sim-large-2 does not support it "
                                  "(model catalog)")
    target = proj.root / "upgrades" / "bot"
    candidate = load_release(target, feature="bot")
    assert candidate.id == doc["candidate"] and candidate.spec.model == "sim-large-2"
    assert candidate.spec.params.top_p is None and candidate.files == base.files
    assert {"UPGRADE.md", "GATE.md"} <= {p.name for p in target.iterdir()}
    gate = doc["gate"]
    assert gate["model_swap"] == "sim/sim-large, sim/sim-small → sim/sim-large-2, sim/sim-small"
    assert gate["comparison"]["n_cases"] == 6 and gate["comparison"]["repeats"] >= 3
    with Store.open(db_url) as store:
        assert store.get_release("bot", candidate.id).release_id == candidate.id
        assert store.get_channel("bot", "production").release_id == base.id  # a draft only
        recorded = latest_gate(store, "bot", candidate.id, base.id)
        assert recorded is not None and recorded.verdict.value == gate["verdict"]
        with store.engine.connect() as conn:
            entry = conn.execute(sa.select(audit_log).where(
                audit_log.c.action == "model.upgrade")).one()
    assert entry.object_id == candidate.id and entry.reason == doc["description"]
    assert entry.actor == "ana@example.com"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown feature 'nope'"),
        (["bot", "--to", "sim-huge"], "unknown model sim/sim-huge"),
        (["bot", "--to", "other/sim-x"], "provider 'other' (for sim-x) is not configured"),
        (["bot", "--to", "sim-small"], "bot already uses"),
        ([], "give a FEATURE or --all-due"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, sim: SimServer, args: list[str], message: str
) -> None:
    db = tmp_path / "db.sqlite"
    proj = make_project(tmp_path / "p", f"sqlite:///{db}", sim.base_url,
                        release={"provider": "sim", "model": "sim-small",
                                 "messages": {"system": "prompts/system.md"}}
                        if "--to" in args and "sim-small" in args else None)
    result = run(proj.root, "models", "upgrade", *args, "--as-of", "2027-01-10")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (proj.root / "upgrades").exists() and not db.exists()


def test_a_successor_loop_in_the_catalog_is_one_line_exit_2(
    tmp_path: Path, sim: SimServer
) -> None:
    db = tmp_path / "db.sqlite"
    proj = make_project(tmp_path / "p", f"sqlite:///{db}", sim.base_url,
                        catalog=[{"provider": "sim", "model": "sim-large-2",
                                  "successor": "sim-large", "deprecation_date": "2027-02-01"}])
    result = run(proj.root, "models", "upgrade", "bot", "--as-of", "2027-01-10")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("error: successor loop in the model catalog: sim-large → "
                                     "sim-large-2 → sim-large")
    assert not (proj.root / "upgrades").exists() and not db.exists()
    plan = json.loads(run(proj.root, "models", "plan", "--as-of", "2027-01-10",
                          "--json").stdout)
    assert plan["features"][0]["next_action"] == (
        "blocked: successor loop in the model catalog: sim-large → sim-large-2 → sim-large")


def test_no_suite_means_the_upgrade_cannot_be_verified(tmp_path: Path, sim: SimServer) -> None:
    proj = make_project(tmp_path / "p", f"sqlite:///{tmp_path / 'db.sqlite'}", sim.base_url,
                        suite=False)
    result = run(proj.root, "models", "upgrade", "bot", "--as-of", "2027-01-10")
    assert result.exit_code == 2
    assert "no suite: the upgrade cannot be verified" in result.stderr
    assert not (proj.root / "upgrades").exists()


def test_all_due_upgrades_due_features_and_reports_the_blocked(
    tmp_path: Path, sim: SimServer
) -> None:
    proj = make_project(tmp_path / "p", f"sqlite:///{tmp_path / 'db.sqlite'}", sim.base_url,
                        catalog=[{"provider": "sim", "model": "sim-small",
                                  "deprecation_date": "2027-02-01"}])
    result = run(proj.root, "models", "upgrade", "--all-due", "--within", "90d", "--as-of",
                 "2027-01-10", "--no-gate", "--json")
    doc = json.loads(result.stdout)
    assert [u["candidate"] for u in doc["upgrades"]] == [
        load_release(proj.root / "upgrades" / "bot", feature="bot").id]
    assert doc["upgrades"][0]["gate"] is None
    assert "fallback sim/sim-small (deprecation 2027-02-01) has no successor: kept" in (
        doc["upgrades"][0]["warnings"])
    assert result.exit_code == 0


def test_gate_on_a_model_only_change_runs_the_full_suite_with_repeats_and_says_so(
    tmp_path: Path, sim: SimServer
) -> None:
    proj = make_project(tmp_path / "p", f"sqlite:///{tmp_path / 'db.sqlite'}", sim.base_url)
    policy = proj.root / "policies" / "bot.yaml"
    policy.parent.mkdir()
    policy.write_text("min_cases: 1\nsequential: {looks: 2, first_cases: 2}\n")
    made = run(proj.root, "models", "upgrade", "bot", "--no-gate", "--as-of", "2027-01-10")
    assert made.exit_code == 0, made.output
    result = run(proj.root, "gate", "bot", "-c", "upgrades/bot", "-b", "releases/bot",
                 "--repeats", "1", "--json")
    assert result.exit_code in (0, 1, 3), result.output
    doc = json.loads(result.stdout)
    looks = doc["sequential"]["looks"]
    assert looks[0]["cases"] == 6 and looks[0]["repeats"] == 3  # not 2 cases, not 1 repeat
    assert ("bot: model change only (sim/sim-large, sim/sim-small → sim/sim-large-2, "
            "sim/sim-small): the full suite with repeats, no sampled first look and no "
            "--changed-since shortcut") in " ".join(result.stderr.split())
    prompt = proj.root / "upgrades" / "bot" / "prompts" / "system.md"
    prompt.write_text("Answer with the number only, please.\n")
    sampled = run(proj.root, "gate", "bot", "-c", "upgrades/bot", "-b", "releases/bot",
                  "--repeats", "1", "--json")
    assert json.loads(sampled.stdout)["sequential"]["looks"][0]["cases"] == 2
    assert "model change only" not in sampled.stderr
