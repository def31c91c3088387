"""Experiment definition files: a full file parses, defaults apply, bad input names file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.errors import ConfigError
from rampway.experiments.spec import (
    Definition,
    check_name,
    definition_names,
    definition_path,
    load_definition,
    parse_definition,
)

GOOD = """\
feature: support-bot
description: Friendlier tone raises thumbs-up without more escalations
unit: session
arms:
  - {name: control, release: production, weight: 50}
  - {name: friendly, release: "releases/support-bot", weight: 50}
coverage: 80
primary: "feedback:thumbs_up"
secondary: ["conversion:resolved", "retention:1d"]
guardrails:
  - {metric: error_rate, bad: increase}
  - {metric: latency_p95, bad: increase}
alpha: 0.01
min_runtime: 7d
"""

FILE = "experiments/friendlier-tone.yaml"


def test_a_full_definition_parses() -> None:
    d = parse_definition(GOOD, FILE)
    assert d.feature == "support-bot" and d.unit == "session"
    assert [(a.name, a.release, a.weight) for a in d.arms] == [
        ("control", "production", 50), ("friendly", "releases/support-bot", 50)]
    assert d.weights_bp() == [5000, 5000] and d.coverage_bp == 8000
    assert d.primary == "feedback:thumbs_up"
    assert d.secondary == ["conversion:resolved", "retention:1d"]
    assert [(g.metric, g.bad) for g in d.guardrail_records()] == [
        ("error_rate", "increase"), ("latency_p95", "increase")]
    assert d.alpha == 0.01 and d.min_runtime == 7 * 86400
    assert Definition.model_validate(d.to_json()) == d  # the stored snapshot round-trips


def test_defaults_and_an_equal_split() -> None:
    d = parse_definition(
        "feature: bot\nprimary: error_rate\narms:\n  - {name: a, release: production}\n"
        "  - {name: b, release: bot@1234}\n  - {name: c, release: bot@5678}\n", FILE)
    assert d.unit == "user" and d.coverage_bp == 10000 and d.alpha == 0.05
    assert d.min_runtime == 7 * 86400 and d.secondary == [] and d.guardrails == []
    assert d.weights_bp() == [3334, 3333, 3333]
    arms = d.resolved_arms(["bot@1", "bot@2", "bot@3"])
    assert [(a.name, a.release_id, a.weight_bp) for a in arms] == [
        ("a", "bot@1", 3334), ("b", "bot@2", 3333), ("c", "bot@3", 3333)]


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_replace("weight: 50}\n  - {name: friendly", "weight: 40}\n  - {name: friendly"),
         f"{FILE}:4: arms: arm weights must sum to 100, got 90"),
        (_replace(", weight: 50}\n  - {name: friendly", "}\n  - {name: friendly"),
         f"{FILE}:4: arms: give every arm a weight, or none for an equal split"),
        (_replace("name: friendly", "name: control"),
         f"{FILE}:4: arms: arm names must be unique: control is listed twice"),
        (_replace("  - {name: friendly, release: \"releases/support-bot\", weight: 50}\n", "")
         .replace("weight: 50}", "weight: 100}"),
         f"{FILE}:4: arms: an experiment has 2 to 6 arms, got 1"),
        (_replace("weight: 50}\n  - {name: friendly", "weight: 50.5}\n  - {name: friendly"),
         f"{FILE}:5: arms[0].weight: weight must be a whole percentage"),
        (_replace("name: friendly", "name: production"),
         f"{FILE}:6: arms[1].name: 'production' is reserved"),
        (_replace("name: friendly", "name: 'bad name'"),
         f"{FILE}:6: arms[1].name: arm names use letters"),
        (_replace('release: "releases/support-bot"', 'release: "  "'),
         f"{FILE}:6: arms[1].release: give a channel"),
        (_replace("coverage: 80", "coverage: 0"),
         f"{FILE}:7: coverage: coverage must be a percentage in (0, 100]"),
        (_replace("coverage: 80", "coverage: 50.001"),
         f"{FILE}:7: coverage: coverage must be a whole number of basis points"),
        (_replace('primary: "feedback:thumbs_up"', 'primary: ""'),
         f"{FILE}:8: primary: a metric name must be a non-empty string"),
        (_replace('primary: "feedback:thumbs_up"', 'primary: "happiness"'),
         f"{FILE}:8: primary: unknown metric 'happiness'; valid metrics: error_rate"),
        (_replace('"retention:1d"]', '"retention:0d"]'),
         f"{FILE}:9: secondary: invalid metric 'retention:0d'"),
        (_replace("metric: latency_p95", "metric: latency_p99"),
         f"{FILE}:12: guardrails[1].metric: unknown metric 'latency_p99'"),
        (_replace('["conversion:resolved", "retention:1d"]', '["retention:1d", "retention:1d"]'),
         f"{FILE}:9: secondary: a secondary metric is listed twice"),
        (_replace("latency_p95, bad: increase", "error_rate, bad: increase"),
         f"{FILE}:10: guardrails: guardrail error_rate (increase) is listed twice"),
        (_replace("bad: increase}\n  - {metric: latency", "bad: up}\n  - {metric: latency"),
         f"{FILE}:11: guardrails[0].bad: Input should be 'increase' or 'decrease'"),
        (_replace("alpha: 0.01", "alpha: 0.7"), f"{FILE}:13: alpha: alpha must be within"),
        (_replace("min_runtime: 7d", "min_runtime: soon"),
         f"{FILE}:14: min_runtime: invalid duration 'soon'"),
        (_replace("unit: session", "unit: account"),
         f"{FILE}:3: unit: Input should be 'user' or 'session'"),
        (GOOD + "colour: blue\n", f"{FILE}:15: colour: unknown key"),
        (_replace("feature: support-bot\n", ""), f"{FILE}:1: feature: required key is missing"),
        (GOOD + "arms: []\n", f"{FILE}:15: duplicate key 'arms'"),
        ("- just\n- a list\n", f"{FILE}:1: an experiment must be a mapping"),
        ("feature: [unclosed\n", f"{FILE}:2: malformed YAML"),
    ],
)
def test_bad_definitions_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_definition(text, FILE)
    assert info.value.message.startswith(expected), info.value.message
    assert "\n" not in info.value.message


def test_secondary_repeating_the_primary_is_refused() -> None:
    with pytest.raises(ConfigError, match="also listed as secondary"):
        parse_definition(_replace('"retention:1d"]', '"feedback:thumbs_up"]'), FILE)


def test_better_sets_a_metrics_good_direction_and_names_only_its_metrics() -> None:
    good = parse_definition(GOOD + 'better: {"retention:1d": decrease}\n', FILE)
    assert good.better == {"retention:1d": "decrease"}
    with pytest.raises(ConfigError, match="latency_p95 is not the primary or a secondary"):
        parse_definition(GOOD + 'better: {"latency_p95": decrease}\n', FILE)
    with pytest.raises(ConfigError, match="Input should be 'increase' or 'decrease'"):
        parse_definition(GOOD + 'better: {"retention:1d": lower}\n', FILE)


def test_files_in_the_project(tmp_path: Path) -> None:
    assert definition_names(tmp_path) == []
    path = definition_path(tmp_path, "friendlier-tone")
    path.parent.mkdir()
    path.write_text(GOOD)
    (path.parent / "notes.txt").write_text("not an experiment")
    assert definition_names(tmp_path) == ["friendlier-tone"]
    assert load_definition(path).feature == "support-bot"
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_definition(definition_path(tmp_path, "missing"))
    with pytest.raises(ConfigError, match="invalid experiment name"):
        check_name("../etc/passwd")


def test_the_example_definitions_are_valid() -> None:
    root = Path(__file__).parents[2] / "examples" / "support-bot"
    names = definition_names(root)
    assert "friendlier-tone" in names
    for name in names:
        d = load_definition(definition_path(root, name))
        assert d.feature == "support-bot" and d.arms[0].release == "production"
