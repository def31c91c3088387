"""The issue's 'done when' scenarios, on a copy of examples/support-bot with the in-process sim.

The baseline is the working-tree release; each candidate is a copy with one edit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml
from gate_helpers import ExampleProject, patch_model, replace_in, weaken_prompt

from rampway.evals.runner import RunOptions
from rampway.gate.model import Verdict
from rampway.gate.report import GateReport, markdown
from rampway.gate.run import gate_feature

# The runner's own options, flushing included: the in-process sim reports its simulated
# latencies, so neither a background flush nor a loaded machine moves the latency axes.
FAST = RunOptions(concurrency=16)


def _set_model(model: str) -> GateReport:
    def edit(directory: Path) -> None:
        replace_in(directory / "release.yaml", "model: sim-large\n", f"model: {model}\n")

    return edit


async def test_prompt_edit_that_lowers_accuracy_fails_the_gate(example: ExampleProject) -> None:
    ref = example.candidate("support-bot", weaken_prompt)
    report = await gate_feature(example.ctx, "support-bot", ref, "releases/support-bot", FAST)
    print(markdown(report))
    assert report.decision.verdict is Verdict.FAIL
    assert any("quality" in r or "intent" in r for r in report.decision.reasons)


def _cheaper_model(directory: Path) -> None:
    spec = yaml.safe_load((directory / "release.yaml").read_text())
    spec["model"], spec["fallbacks"] = "sim-small", ["sim-large"]
    (directory / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _drop_tradeoffs(root: Path) -> None:
    path = root / "policies" / "support-bot.yaml"
    policy = yaml.safe_load(path.read_text())
    policy.pop("tradeoffs")
    path.write_text(yaml.safe_dump(policy))


async def _cheaper_model_gate(example: ExampleProject, quality: float = 0.6) -> GateReport:
    # A cheap model a little less accurate than sim-large (the default sim-small is far worse).
    patch_model(example.sim, "sim-small", quality=quality)
    ref = example.candidate("support-bot", _cheaper_model)
    options = replace(FAST, repeats=10)
    return await gate_feature(example.ctx, "support-bot", ref, "releases/support-bot", options)


async def test_cheaper_model_with_small_quality_drop_passes_under_the_tradeoff(
    example: ExampleProject,
) -> None:
    report = await _cheaper_model_gate(example)
    decision = report.decision
    quality = report.data.axes["quality"]
    assert quality.change < -1.0  # a real, if small, quality drop ...
    assert report.data.axes["cost"].bootstrap.high < -50
    assert decision.tradeoffs_applied == ("much cheaper model",)
    assert decision.verdict is Verdict.PASS, markdown(report)


async def test_a_cheaper_model_losing_4_points_fails_without_the_tradeoff(
    example: ExampleProject,
) -> None:
    # The 0.6 model above loses ~3 quality points: against the 2-point margin that is too
    # close to call without the trade-off; a 0.5 model loses ~4 and fails.
    _drop_tradeoffs(example.root)
    report = await _cheaper_model_gate(example, quality=0.5)
    decision = report.decision
    assert decision.verdict is Verdict.FAIL, markdown(report)
    failed = {o.axis for o in decision.outcomes if o.verdict is Verdict.FAIL}
    assert "quality" in failed


def _touch_description(directory: Path) -> None:
    """Same prompts and model, so the same answers; only the release id changes."""
    replace_in(directory / "release.yaml", "description: >-\n", "description: >-\n  (v2)\n")


async def _latency_regression(example: ExampleProject, feature: str, model: str) -> GateReport:
    """Baseline answered at normal speed; then the provider gets 3x slower for the candidate."""
    suite_root = example.ctx.project.root
    from rampway.evals.suite import require_suite
    from rampway.gate.run import eval_release
    from rampway.release import resolve_ref

    suite = require_suite(suite_root, feature)
    baseline = resolve_ref(example.ctx.project, feature, f"releases/{feature}")
    await eval_release(example.ctx, suite, baseline, FAST)
    slow = {"latency": {"ttft_median_s": 1.2, "per_token_ms": 54.0, "ttft_sigma": 0.1}}
    patch_model(example.sim, model, **slow)
    ref = example.candidate(feature, _touch_description)
    return await gate_feature(example.ctx, feature, ref, f"releases/{feature}", FAST)


async def test_latency_regression_fails_a_chat_feature(example: ExampleProject) -> None:
    report = await _latency_regression(example, "support-bot", "sim-large")
    decision = report.decision
    assert decision.verdict is Verdict.FAIL, markdown(report)
    failed = {o.axis for o in decision.outcomes if o.verdict is Verdict.FAIL}
    assert failed == {"latency_p95"}


async def test_latency_regression_passes_a_batch_feature(example: ExampleProject) -> None:
    report = await _latency_regression(example, "extract-invoice", "sim-large-2")
    decision = report.decision
    assert report.data.axes["latency_p95"].change > 50
    assert decision.verdict is Verdict.PASS, markdown(report)
    latency = next(o for o in decision.outcomes if o.axis == "latency_p95")
    assert latency.verdict is None and "batch" in latency.reason
