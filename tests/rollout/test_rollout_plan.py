"""Plan files: defaults, durations, and every bad input refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.errors import ConfigError
from rampway.rollout import Plan, load_plan, plan_for
from rampway.rollout.plan import parse_duration, parse_plan

GOOD = """\
baseline: production
unit: session
alpha: 0.05
steps:
  - {weight: 1%, dwell: 1h}
  - {weight: 5, dwell: 2h}
  - {weight: 25, dwell: 6h}
  - {weight: 50, dwell: 12h, approval: true}
  - {weight: 100}
guardrails:
  - {metric: error_rate, margin: {relative: 0.2}, critical: true, min_sample: 200}
  - {metric: latency_p95, margin: {relative: 0.2}, critical: true}
  - {metric: "feedback:thumbs_up", bad: decrease, margin: {absolute: 0.05}}
webhooks:
  - {url: "http://127.0.0.1:9/hook", format: slack, events: [rollback, complete]}
"""


def test_a_full_plan_parses() -> None:
    plan = parse_plan(GOOD, "rollouts/support-bot.yaml")
    assert [s.weight_bp for s in plan.steps] == [100, 500, 2500, 5000, 10000]
    assert [s.dwell for s in plan.steps] == [3600, 7200, 21600, 43200, 0]
    assert plan.steps[3].approval and plan.unit == "session"
    assert plan.guardrails[2].bad == "decrease" and plan.guardrails[2].margin.absolute == 0.05
    assert plan.judged_steps == 4
    assert plan.guardrail_alpha() == pytest.approx(0.05 / 12)
    assert Plan.model_validate(plan.to_json()) == plan


def test_srm_check_is_on_by_default_and_can_be_tuned_or_switched_off() -> None:
    assert Plan().srm.enabled and Plan().srm.threshold == 0.001
    assert parse_plan(GOOD, "x.yaml").srm == Plan().srm
    assert parse_plan("srm: {threshold: 0.0001}\n", "x.yaml").srm.threshold == 0.0001
    assert not parse_plan("srm: false\n", "x.yaml").srm.enabled
    assert parse_plan("srm: true\n", "x.yaml").srm.enabled
    off = parse_plan("srm: {enabled: false, threshold: 0.01}\n", "x.yaml")
    assert Plan.model_validate(off.to_json()) == off
    stored = {k: v for k, v in Plan().to_json().items() if k != "srm"}
    assert Plan.model_validate(stored).srm.enabled  # plans stored before the check: on


def test_defaults_when_no_plan_file(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "support-bot")
    assert [s.weight for s in plan.steps] == [1, 5, 25, 50, 100]
    assert {g.metric for g in plan.guardrails} >= {"error_rate", "latency_p95"}
    (tmp_path / "rollouts").mkdir()
    (tmp_path / "rollouts" / "support-bot.yaml").write_text("steps: [{weight: 100}]\n")
    assert len(plan_for(tmp_path, "support-bot").steps) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("30m", 1800.0), ("1h30m", 5400.0), ("2d", 172800.0),
     ("0.5h", 1800.0)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["36600d", "1000000000d", "9" * 30 + "s", 1e15])
def test_durations_beyond_100_years_are_refused(value: object) -> None:
    """Past `timedelta`'s range these were OverflowErrors wherever a caller subtracted them."""
    assert parse_duration("36500d") == 36500 * 86400.0
    with pytest.raises(ValueError, match="at most 100 years"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: []\n", "x.yaml:1: steps: a plan needs at least one step"),
        ("steps:\n  - {weight: 5}\n  - {weight: 5}\n  - {weight: 100}\n",
         "weights must increase, got 5% then 5%"),
        ("steps:\n  - {weight: 50}\n  - {weight: 25}\n  - {weight: 100}\n", "must increase"),
        ("steps:\n  - {weight: 5}\n  - {weight: 50}\n", "the last step must be 100%"),
        ("steps:\n  - {weight: 0}\n  - {weight: 100}\n", "percentage in (0, 100]"),
        ("steps:\n  - {weight: 0.001}\n  - {weight: 100}\n", "whole number of basis points"),
        ("steps:\n  - {weight: 5, dwell: soon}\n  - {weight: 100}\n", "invalid duration"),
        ("steps:\n  - {weight: 5, dwell: 99999999999d}\n  - {weight: 100}\n", "at most 100 years"),
        ("guardrails:\n  - {metric: happiness}\n", "unknown guardrail metric 'happiness'"),
        ("guardrails:\n  - {metric: 'feedback:'}\n", "invalid feedback metric"),
        ("guardrails: []\n", "at least one guardrail"),
        ("guardrails:\n  - {metric: error_rate, margin: {relative: 0.1, absolute: 1}}\n",
         "exactly one of"),
        ("guardrails:\n  - {metric: error_rate, margin: {relative: -1}}\n", ">= 0"),
        ("guardrails:\n  - {metric: error_rate}\n  - {metric: error_rate}\n", "listed twice"),
        ("guardrails:\n  - {metric: error_rate, min_sample: 1}\n", "min_sample"),
        ("alpha: 0.9\n", "alpha must be within"),
        ("srm: {threshold: 0.2}\n", "x.yaml:1: srm.threshold: must be a p-value in (0, 0.05]"),
        ("srm: {threshold: 0}\n", "srm.threshold: must be a p-value"),
        ("srm: {treshold: 0.01}\n", "srm.treshold: unknown key"),
        ("srm: off-ish\n", "srm: must be true, false or a mapping like {threshold: 0.001}"),
        ("webhooks:\n  - {url: 'ftp://x'}\n", "http:// or https://"),
        ("stepz: []\n", "stepz: unknown key"),
        ("- 1\n", "a plan must be a mapping"),
        ("steps: [\n", "malformed YAML"),
    ],
)
def test_bad_plans_are_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_plan(text, "rollouts/x.yaml")
    assert info.value.message.startswith("rollouts/x.yaml:")
    assert message in info.value.message


def test_plan_for_another_feature_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("feature: other\n")
    with pytest.raises(ConfigError, match="plan is for feature 'other'"):
        plan_for(tmp_path, "support-bot", path)
    with pytest.raises(ConfigError, match="cannot read plan"):
        load_plan(tmp_path / "missing.yaml")
