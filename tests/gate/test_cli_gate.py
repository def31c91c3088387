"""`rampway eval` / `rampway gate` end to end through the CLI, with the in-process sim."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa
import xmlschema
from gate_helpers import EXAMPLE, weaken_prompt
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.config import load_project
from rampway.gate import latest_gate
from rampway.gate.tables import gate_decisions
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim._config import load_sim_config
from rampway.providers.sim._provider import SimProvider
from rampway.release import resolve_ref
from rampway.store import Store

JUNIT_SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "schemas" / "junit.xsd")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "support-bot"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    monkeypatch.setenv("RAMPWAY_DB", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("RAMPWAY_ACTOR", "ci@example.com")
    monkeypatch.chdir(root)

    def fast_sim(config: Any, **_: Any) -> ProviderRegistry:
        sim = load_sim_config(None)
        sim.time_scale = 0.0
        return ProviderRegistry({"sim": SimProvider(sim)}, {"sim": "sim"})

    monkeypatch.setattr("rampway.providers.registry.build_providers", fast_sim)
    return root


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def break_prompt(root: Path) -> Path:
    target = root / "candidates" / "support-bot"
    shutil.copytree(root / "releases" / "support-bot", target)
    weaken_prompt(target)
    return target


def test_eval_prints_json_and_writes_the_export(project: Path) -> None:
    result = invoke("eval", "extract-invoice", "--json", "--out", "run.json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["complete"] and document["cases"] == 30 and document["repeats"] == 1
    assert len(document["results"]) == 30
    assert json.loads((project / "run.json").read_text())["run_id"] == document["run_id"]


def test_gate_exit_codes_and_formats(project: Path) -> None:
    same = invoke("gate", "support-bot", "-c", "releases/support-bot", "-b", "releases/support-bot")
    assert same.exit_code == 0, same.output
    assert same.stdout.startswith("## ✅ rampway gate: **PASS**")

    broken = break_prompt(project)
    md = invoke("gate", "support-bot", "-c", str(broken), "-b", "releases/support-bot")
    assert md.exit_code == 1, md.output
    assert md.stdout.startswith("## ❌ rampway gate: **FAIL**")
    assert "### Newly failing cases" in md.stdout and "```diff" in md.stdout

    as_json = invoke(
        "gate", "support-bot", "-c", str(broken), "-b", "releases/support-bot", "-f", "json"
    )
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["verdict"] == "fail"

    junit = invoke("gate", "support-bot", "-c", str(broken), "-b", "releases/support-bot",
                   "-f", "junit", "--out", "gate.xml")
    suite = ET.fromstring((project / "gate.xml").read_text()).find("testsuite")
    assert junit.exit_code == 1 and suite is not None and int(suite.get("failures", 0)) >= 1
    JUNIT_SCHEMA.validate(str(project / "gate.xml"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate", "support-bot"], "--candidate REF is required"),
        (["gate", "support-bot", "-c", "x", "-f", "pdf"], "--format must be one of"),
        (["gate", "-c", "x"], "give a FEATURE or --changed-since"),
        (["gate", "nope", "-c", "x"], "no eval suite for 'nope'"),
        (["eval", "support-bot", "-r", "no-such-ref"], "unknown ref 'no-such-ref'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(project: Path, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert recorded() == 0


def recorded() -> int:
    """How many gate decisions the project's store holds (0 when it has no database yet)."""
    url = os.environ["RAMPWAY_DB"]
    if not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    with Store.open(url) as store, store.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(gate_decisions)) or 0)


def release_id(root: Path, ref: str) -> str:
    return resolve_ref(load_project(root), "support-bot", ref).id


def test_json_keeps_the_exit_codes_and_every_comparison_is_recorded(project: Path) -> None:
    same = ("gate", "support-bot", "-c", "releases/support-bot", "-b", "releases/support-bot")
    passed = invoke(*same, "--json")
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout)["verdict"] == "pass"
    broken = break_prompt(project)
    failed = invoke("gate", "support-bot", "-c", str(broken), "-b", "releases/support-bot",
                    "--json")
    assert failed.exit_code == 1, failed.output
    document = json.loads(failed.stdout)
    assert document["verdict"] == "fail" and document["exit_code"] == 1
    policy = project / "policies" / "support-bot.yaml"
    policy.write_text(policy.read_text().replace("min_cases: 20", "min_cases: 5000"))
    pending = invoke(*same, "--json")
    assert pending.exit_code == 3, pending.output
    assert json.loads(pending.stdout)["verdict"] == "inconclusive"

    base, cand = release_id(project, "releases/support-bot"), release_id(project, str(broken))
    with Store.open(os.environ["RAMPWAY_DB"]) as store:
        newest = latest_gate(store, "support-bot", base, base)
        fail = latest_gate(store, "support-bot", cand, base)
    assert fail is not None and fail.verdict.value == "fail"
    assert fail.actor == "ci@example.com" and fail.policy == "policies/support-bot.yaml"
    assert fail.suite_digest and fail.summary == document
    assert newest is not None and newest.verdict.value == "inconclusive"  # the newest counts
    assert newest.policy_digest != fail.policy_digest  # the policy changed in between
    assert recorded() == 3


def test_json_and_another_format_disagree(project: Path) -> None:
    result = invoke("gate", "support-bot", "-c", "releases/support-bot",
                    "-b", "releases/support-bot", "--json", "-f", "md")
    assert result.exit_code == 2
    assert result.stderr == "error: --json and --format md disagree; give one of them\n"
    assert recorded() == 0


def test_bad_suite_is_exit_2_and_records_nothing_complete(project: Path) -> None:
    suite = project / "evals" / "support-bot" / "suite.yaml"
    suite.write_text(suite.read_text().replace("type: refusal", "type: refusals"))
    result = invoke("eval", "support-bot")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: evals/support-bot/suite.yaml:")


def test_changed_since_gates_only_changed_features(project: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "x", "--allow-empty")
    git("add", "-A")
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "base")
    weaken_prompt(project / "releases" / "support-bot")
    result = invoke("gate", "--changed-since", "HEAD", "-f", "json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["feature"] == "support-bot" and document["verdict"] == "fail"


def test_reports_say_how_many_looks_and_calls_the_decision_took(project: Path) -> None:
    """Baseline vs itself: the candidate makes its own calls, none from the baseline's cache."""
    same = ("gate", "support-bot", "-c", "releases/support-bot", "-b", "releases/support-bot")
    as_json = invoke(*same, "--json")
    assert as_json.exit_code == 0, as_json.output
    looks = json.loads(as_json.stdout)["sequential"]
    assert looks["stopped"] == "decided" and looks["looks"][-1]["verdict"] == "pass"
    assert looks["new_calls"] == looks["evaluations"] == looks["looks"][-1]["evaluations"]
    assert as_json.stderr.startswith("support-bot: PASS — decided at look ")
    assert f"{looks['new_calls']} new calls" in as_json.stderr

    # The same gate again: both samples are cached (the candidate's under its own seeds), so it
    # reproduces the decision for free.
    again = invoke(*same, "-f", "junit", "--out", "gate.xml")
    suite = ET.fromstring((project / "gate.xml").read_text()).find("testsuite")
    assert again.exit_code == 0 and suite is not None
    JUNIT_SCHEMA.validate(str(project / "gate.xml"))  # with <properties> and time
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["calls"] == "0" and props["answers_compared"] == str(looks["evaluations"])

    md = invoke(*same)
    assert "Looks: decided at look" in md.stdout and "new calls" in md.stdout
