"""The gate and the rollout joined, for real: `rollout start` refuses an ungated candidate and
names the `rampway gate` command; running exactly that command (evals on the in-process sim)
records a pass, and the same start then goes through and shows the gate in its status."""

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
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim._config import load_sim_config
from rampway.providers.sim._provider import SimProvider

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
FEATURE = "support-bot"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project, production → its release, and a candidate that only changes the
    release's description (a new release id, the same behaviour)."""
    root = tmp_path / "support-bot"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "ana@example.com")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    monkeypatch.chdir(root)

    def fast_sim(config: Any, **_: Any) -> ProviderRegistry:
        sim = load_sim_config(None)
        sim.time_scale = 0.0
        return ProviderRegistry({"sim": SimProvider(sim)}, {"sim": "sim"})

    monkeypatch.setattr("rampway.providers.registry.build_providers", fast_sim)
    assert run("channel", "set", FEATURE, "production", f"releases/{FEATURE}",
               "--reason", "launch").exit_code == 0
    target = root / "candidates" / FEATURE
    shutil.copytree(root / "releases" / FEATURE, target)
    spec = target / "release.yaml"
    spec.write_text(spec.read_text().replace("description: >-", "description: >-\n  v2.1.", 1))
    return root


def test_refusal_names_the_gate_command_that_unblocks_the_start(project: Path) -> None:
    start = ("rollout", "start", FEATURE, "--candidate", f"candidates/{FEATURE}", "--json")
    refused = run(*start)
    assert refused.exit_code == 2, refused.output
    found = re.search(r"run `(rampway gate [^`]+)` first", refused.stderr)
    assert found is not None and refused.stderr.count("\n") == 1, refused.stderr
    command = shlex.split(found.group(1))
    assert command[:5] == ["rampway", "gate", FEATURE, "--candidate", f"candidates/{FEATURE}"]

    gated = run(*command[1:], "--json")
    assert gated.exit_code == 0, gated.output
    assert json.loads(gated.stdout)["verdict"] == "pass"

    started = run(*start)
    assert started.exit_code == 0, started.output
    gate = json.loads(started.stdout)["gate"]
    assert gate["verdict"] == "pass" and gate["policy"] == f"policies/{FEATURE}.yaml"
    assert gate["actor"] == "ana@example.com" and gate["baseline"] == command[-1]
    status = run("rollout", "status", FEATURE)
    assert status.exit_code == 0, status.output
    assert f"gate: pass (#{gate['id']}, policies/{FEATURE}.yaml, by ana@example.com" in (
        status.stdout)
