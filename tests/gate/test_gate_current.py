"""A recorded pass counts only under the policy and suite the repo has now.

`current_basis` reads them as `rampway gate` does; end to end, `rampway rollout start` refuses
a pass decided before the policy or the suite changed, names what changed and the command to
run, and starts once that command has decided again under the current files."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.errors import ConfigError
from rampway.evals.suite import require_suite
from rampway.gate.current import current_basis
from rampway.gate.policy import default_policy
from rampway.gate.records import policy_digest
from rampway.gate.run import load_policy
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim._config import load_sim_config
from rampway.providers.sim._provider import SimProvider

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
FEATURE = "support-bot"
POLICY = f"policies/{FEATURE}.yaml"
SUITE = f"evals/{FEATURE}/suite.yaml"
START = ("rollout", "start", FEATURE, "--candidate", f"candidates/{FEATURE}", "--json")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    root = tmp_path / FEATURE
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    return root


def test_the_basis_is_what_the_files_mean_not_how_they_are_spelled(copy: Path) -> None:
    basis = current_basis(copy, FEATURE)
    assert (basis.policy, basis.suite) == (POLICY, SUITE)
    assert basis.suite_digest == require_suite(copy, FEATURE).digest
    edit(copy, POLICY, "min_cases: 20", "min_cases: 20   # reviewed")
    edit(copy, SUITE, "# Eval suite", "# The eval suite")
    assert current_basis(copy, FEATURE) == basis
    edit(copy, POLICY, "min_cases: 20", "min_cases: 30")
    assert current_basis(copy, FEATURE).policy_digest != basis.policy_digest
    edit(copy, SUITE, "max_words: 80", "max_words: 60")
    assert current_basis(copy, FEATURE).suite_digest != basis.suite_digest


def test_without_a_policy_file_the_basis_is_the_default_policy_of_the_suite(copy: Path) -> None:
    (copy / POLICY).unlink()
    basis = current_basis(copy, FEATURE)
    suite = require_suite(copy, FEATURE)
    quality = [m for m in suite.metric_names if m != "pass_rate"]
    assert basis.policy == "default policy"
    assert basis.policy_digest == policy_digest(default_policy(quality))


def test_a_policy_or_suite_that_cannot_be_read_is_the_problem_rampway_gate_would_stop_on(
    copy: Path,
) -> None:
    edit(copy, POLICY, "min_cases: 20", "min_cases: many")
    broken = current_basis(copy, FEATURE)
    with pytest.raises(ConfigError) as stopped:
        load_policy(copy, FEATURE, require_suite(copy, FEATURE))
    assert broken.problem == stopped.value.message and broken.problem.startswith(f"{POLICY}:5: ")
    assert (broken.policy_digest, broken.suite_digest) == ("", "")  # matches no record
    (copy / SUITE).unlink()
    assert current_basis(copy, FEATURE).problem == (
        f"no eval suite for '{FEATURE}': expected {SUITE}")


# -- end to end through the CLI, on SQLite and PostgreSQL -----------------------------------


@pytest.fixture
def project(copy: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project, production → its release, and a candidate that only changes the
    release's description (a new release id, the same behaviour)."""
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "ana@example.com")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    monkeypatch.chdir(copy)

    def fast_sim(config: Any, **_: Any) -> ProviderRegistry:
        sim = load_sim_config(None)
        sim.time_scale = 0.0
        return ProviderRegistry({"sim": SimProvider(sim)}, {"sim": "sim"})

    monkeypatch.setattr("rampway.providers.registry.build_providers", fast_sim)
    assert run("channel", "set", FEATURE, "production", f"releases/{FEATURE}",
               "--reason", "launch").exit_code == 0
    target = copy / "candidates" / FEATURE
    shutil.copytree(copy / "releases" / FEATURE, target)
    edit(copy, f"candidates/{FEATURE}/release.yaml", "description: >-", "description: >-\n  v2.1.")
    return copy


def gate(*args: str) -> dict[str, Any]:
    gated = run("gate", *args, "--json")
    assert gated.exit_code == 0, gated.output
    doc: dict[str, Any] = json.loads(gated.stdout)
    assert doc["verdict"] == "pass"
    return doc


def refused(fragment: str) -> list[str]:
    """The start's one-line refusal (exit 2) contains `fragment`; returns the command it names."""
    result = run(*START)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and fragment in line, result.stderr
    found = re.search(r"gate it again with `(rampway gate [^`]+)`", line)
    assert found is not None, line
    return shlex.split(found.group(1))


def test_a_pass_under_an_older_policy_is_refused_until_the_gate_runs_again(
    project: Path,
) -> None:
    gate(FEATURE, "--candidate", f"candidates/{FEATURE}")
    edit(project, POLICY, "max_new_critical_failures: 0", "max_new_critical_failures: 1")
    command = refused(f"the gate policy {POLICY} changed since candidate {FEATURE}@")
    assert command[:5] == ["rampway", "gate", FEATURE, "--candidate", f"candidates/{FEATURE}"]

    gate(*command[2:])
    started = run(*START)
    assert started.exit_code == 0, started.output
    snapshot = json.loads(started.stdout)["gate"]
    assert snapshot["id"] == 2 and snapshot["basis_checked"] is True
    assert snapshot["policy_digest"] == current_basis(project, FEATURE).policy_digest
    status = run("rollout", "status", FEATURE)
    assert status.exit_code == 0, status.output
    assert "not checked" not in status.stdout


def test_a_changed_suite_is_named_and_the_override_still_starts(project: Path) -> None:
    gate(FEATURE, "--candidate", f"candidates/{FEATURE}")
    edit(project, SUITE, "max_words: 80", "max_words: 90")
    refused(f"the eval suite {SUITE} changed since candidate {FEATURE}@")
    edit(project, POLICY, "min_cases: 20", "min_cases: 25")
    refused(f"the gate policy {POLICY} and the eval suite {SUITE} changed since")
    edit(project, POLICY, "min_cases: 25", "min_cases: ???")  # not even readable: one line too
    unreadable = run(*START)
    assert unreadable.exit_code == 2, unreadable.output
    assert unreadable.stderr.startswith("error: cannot tell whether gate #1 (candidate ")
    assert f"under the current policy and suite: {POLICY}:5: " in unreadable.stderr
    assert unreadable.stderr.count("\n") == 1, unreadable.stderr

    started = run(*START[:-1], "--skip-gate", "--reason", "P0; suite edit under review", "--json")
    assert started.exit_code == 0, started.output
    snapshot = json.loads(started.stdout)["gate"]
    assert snapshot["skipped"] is True and snapshot["latest"]["verdict"] == "pass"
