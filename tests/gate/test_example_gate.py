"""The issue's 'done when' scenarios, on a copy of examples/support-bot with the in-process sim.

The baseline is the working-tree release; each candidate is a copy with one edit.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rampway.evals.runner import RunOptions
from rampway.gate.model import Verdict
from rampway.gate.policy import Policy
from rampway.gate.report import markdown
from rampway.gate.run import gate_feature

from gate_helpers import ExampleProject, patch_model, replace_in

FAST = RunOptions(concurrency=16)


def _set_model(model: str) -> object:
    def edit(directory: Path) -> None:
        replace_in(directory / "release.yaml", "model: sim-large\n", f"model: {model}\n")

    return edit


def _weaken_prompt(directory: Path) -> None:
    """A "simplified" system prompt that drops the intent-label instruction and the examples."""
    spec = yaml.safe_load((directory / "release.yaml").read_text())
    spec["messages"].pop("few_shot")
    (directory / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (directory / "prompts" / "system.md").write_text(
        "You are Ava from ACME Shop, talking to {{ customer_name | default('a customer') }}"
        "{% if plan is defined %} ({{ plan }} member){% endif %}. Be brief and friendly; look up "
        "orders with the lookup_order tool. Returns: 30 days. Shipping: 2-4 business days.\n"
    )


async def test_prompt_edit_that_lowers_accuracy_fails_the_gate(example: ExampleProject) -> None:
    ref = example.candidate("support-bot", _weaken_prompt)
    report = await gate_feature(example.ctx, "support-bot", ref, "releases/support-bot", FAST)
    print(markdown(report))
    assert report.decision.verdict is Verdict.FAIL
    assert any("quality" in r or "intent" in r for r in report.decision.reasons)
