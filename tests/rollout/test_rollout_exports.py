"""The public surface, the example plan, and a light import for the gateway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rampway.rollout
from rampway.rollout import plan_for

EXAMPLE = Path(__file__).parents[2] / "examples" / "support-bot"


def test_exports_are_what_we_mean() -> None:
    assert sorted(rampway.rollout.__all__) == sorted([
        "Action", "ActiveAllocations", "Arm", "Controller", "Evaluation", "Guardrail",
        "GuardrailResult", "Margin", "Notice", "Notifier", "Plan", "RolloutAllocation",
        "RolloutRecord", "SampleRatio", "SampleRatioCheck", "Status", "Step", "Verdict",
        "Webhook", "aggregate", "judge", "load_plan", "plan_for",
    ])
    for name in rampway.rollout.__all__:
        assert getattr(rampway.rollout, name) is not None


def test_the_example_plan_is_valid() -> None:
    plan = plan_for(EXAMPLE, "support-bot")
    assert [s.weight for s in plan.steps] == [1, 5, 25, 50, 100]
    assert plan.steps[3].approval
    assert "feedback:thumbs_up" in {g.metric for g in plan.guardrails}


def test_the_serving_path_imports_no_statistics_stack() -> None:
    code = ("import sys, rampway.gateway.control, rampway.rollout.allocations; "
            "print('scipy' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
