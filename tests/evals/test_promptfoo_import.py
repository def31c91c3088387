"""`rampway import promptfoo`: common assertions convert; the rest is listed, not dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.evals.promptfoo import convert
from rampway.evals.suite import load_suite

CONFIG = """\
description: Support answers
prompts:
  - "Answer the customer: {{question}}"
  - file://prompts/other.txt
providers: [openai:gpt-4o-mini]
defaultTest:
  assert:
    - type: not-icontains
      value: password
tests:
  - description: Refund window
    vars: {question: "How long can I return items?"}
    assert:
      - type: icontains
        value: 30 days
      - type: llm-rubric
        value: Is polite and mentions the free return label
      - type: cost
        threshold: 0.01
  - vars: {question: Give me JSON}
    assert:
      - type: is-json
        value: {type: object, required: [answer]}
      - type: starts-with
        value: "{"
  - vars: {question: [a, b]}
    assert:
      - type: javascript
        value: output.length < 100
"""


def test_convert_maps_common_assertions_and_lists_the_rest() -> None:
    import yaml

    result = convert(yaml.safe_load(CONFIG))
    suite = result.suite
    assert result.prompts == ["Answer the customer: {{question}}"]
    assert set(suite["scorers"]) == {"not_icontains", "icontains", "rubric_1", "is_json", "regex"}
    assert suite["scorers"]["rubric_1"]["model"] == "gpt-4o-mini"
    first = suite["cases"][0]
    assert first["expect"] == {"not_icontains": "password", "icontains": "30 days"}
    assert first["scorers"] == ["not_icontains", "icontains", "rubric_1"]
    assert suite["cases"][1]["expect"]["regex"] == r"^\{"
    notes = "\n".join(result.not_converted)
    assert "file://prompts/other.txt" in notes
    assert "'cost' threshold" in notes
    assert "javascript" in notes and "is a list" in notes


def test_cli_writes_a_suite_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "promptfooconfig.yaml").write_text(CONFIG)
    result = CliRunner().invoke(
        app, ["import", "promptfoo", "promptfooconfig.yaml", "--feature", "bot", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["suite"] == "evals/bot/suite.yaml" and report["cases"] == 2
    suite = load_suite(tmp_path / "evals" / "bot" / "suite.yaml", "bot", tmp_path)
    assert len(suite.cases) == 2
    assert (tmp_path / "evals" / "bot" / "promptfoo-prompt-1.j2").is_file()
    args = ["import", "promptfoo", "promptfooconfig.yaml", "--feature", "bot"]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.stderr


def test_malformed_config_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("tests: [\n")
    result = CliRunner().invoke(app, ["import", "promptfoo", "p.yaml"])
    assert result.exit_code == 2 and result.stderr.startswith("error: p.yaml:2:")


def test_config_with_anchors_and_merge_keys_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """promptfoo reads YAML with js-yaml, which merges `<<: *anchor`; so must the importer."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(
        "prompts: ['Answer: {{question}}']\n"
        "common: &common {assert: [{type: icontains, value: days}]}\n"
        "tests:\n"
        "  - <<: *common\n    vars: {question: 'Return window?'}\n"
        "  - <<: *common\n    vars: {question: 'Shipping time?'}\n"
    )
    result = CliRunner().invoke(app, ["import", "promptfoo", "p.yaml", "--feature", "bot"])
    assert result.exit_code == 0, result.output
    suite = load_suite(tmp_path / "evals" / "bot" / "suite.yaml", "bot", tmp_path)
    assert [c.expect for c in suite.cases] == [{"icontains": "days"}] * 2
