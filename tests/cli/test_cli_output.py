"""How the CLI reads when piped or in CI: nothing cut at 80 columns, latency in milliseconds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rampway.cli._common import console
from rampway.cli.rollout import render_status

LONG = ("A line of the prompt far longer than eighty columns, " * 3).strip()


def test_a_piped_release_diff_keeps_every_character_of_long_lines(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "rampway", "init", str(tmp_path / "app")],
                   check=True, capture_output=True, env=_env())
    root = tmp_path / "app"
    prompts = sorted((root / "releases" / "assistant" / "prompts").iterdir())
    edited = tmp_path / "edited"
    subprocess.run(["cp", "-r", str(root / "releases" / "assistant"), str(edited)], check=True)
    target = edited / "prompts" / prompts[0].name
    target.write_text(target.read_text() + LONG + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "rampway", "release", "diff", "assistant",
         "releases/assistant", str(edited)],
        check=True, capture_output=True, text=True, cwd=root, env=_env(),
    ).stdout
    assert "+" + LONG in out.splitlines()
    assert not any(line.endswith(" ") for line in out.splitlines()), "no padding to a width"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["RAMPWAY_DB"] = "sqlite:///:memory:"
    return env


@pytest.fixture(autouse=True)
def wide_console() -> Iterator[None]:
    """Another test may have imported the CLI under a narrow COLUMNS; these check content."""
    before = console.width
    console.width = 240
    yield
    console.width = before


def _status(guardrail: dict[str, Any]) -> dict[str, Any]:
    return {
        "feature": "support-bot", "id": 1, "status": "running", "candidate": "c@1",
        "weight_pct": 5.0, "baseline": "b@1", "baseline_channel": "production",
        "reason": "started", "gate": None,
        "steps": [{"current": True, "weight_pct": 5, "dwell_s": 600, "approval": False}],
        "plan": {"guardrails": [{"metric": "latency_p95", "bad": "increase",
                                 "margin": {"relative": 0.1}, "critical": True,
                                 "min_sample": 50}]},
        "evaluation": {"action": "hold", "reason": "collecting", "srm": None,
                       "guardrails": [guardrail]},
    }


def test_a_latency_guardrail_is_shown_in_milliseconds_with_its_limit() -> None:
    row = {"metric": "latency_p95", "bad": "increase", "critical": True,
           "verdict": "inconclusive", "baseline_value": 1885.0, "candidate_value": 1827.0,
           "estimate": -0.004, "lower": -0.012, "upper": 0.021, "limit": 0.0,
           "scale": "exceedance", "n_baseline": 900, "n_candidate": 100,
           "units_baseline": 90, "units_candidate": 10}
    with console.capture() as captured:
        render_status(_status(row))
    text = captured.get()
    assert "1885 ms" in text and "1827 ms" in text
    assert "-58 ms (-3.1%)" in text
    assert "≤ 2074 ms" in text  # 1885 ms + the 10% margin
    assert "[-1.2, +2.1] pts" in text


@pytest.mark.parametrize("missing", ["baseline_value", "candidate_value"])
def test_a_latency_guardrail_without_data_shows_dashes(missing: str) -> None:
    row = {"metric": "latency_p95", "bad": "increase", "critical": False, "verdict": "no_data",
           "baseline_value": 1.0, "candidate_value": 1.0, "estimate": 0.0, "lower": 0.0,
           "upper": 0.0, "limit": 0.0, "scale": "exceedance", "n_baseline": 0,
           "n_candidate": 0}
    row[missing] = None
    with console.capture() as captured:
        render_status(_status(row))
    assert "latency_p95" in captured.get()


def test_gate_help_says_what_candidate_and_out_do() -> None:
    from typer.testing import CliRunner

    import rampway.cli._register  # noqa: F401  (attaches the commands)
    from rampway.cli import app

    result = CliRunner().invoke(app, ["gate", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.replace("│", " ").split())
    assert "Required with FEATURE" in text
    assert "in the --format chosen" in text
    assert "Exit 0 pass, 1 fail, 3 inconclusive" in text
