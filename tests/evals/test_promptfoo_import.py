"""`rampway import promptfoo`: common assertions convert; the rest is listed, not dropped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

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
    assert set(suite["scorers"]) == {"not_icontains", "icontains", "rubric", "cost", "is_json",
                                     "regex"}
    # the grader, not the model under test (gpt-4o-mini): promptfoo's default, in the catalog
    assert suite["scorers"]["rubric"] | {"rubric": ""} == {
        "type": "judge", "rubric": "", "provider": "openai", "model": "gpt-4.1"}
    assert suite["scorers"]["cost"] == {"type": "cost", "max_usd": 0.01}
    first = suite["cases"][0]
    assert first["expect"] == {"not_icontains": "password", "icontains": "30 days"}
    assert first["scorers"] == ["not_icontains", "icontains", "rubric", "cost"]
    assert suite["cases"][1]["expect"]["regex"] == r"^\{"
    notes = "\n".join(result.not_converted)
    assert "file://prompts/other.txt" in notes
    # the list var is promptfoo's expansion: one case per item, its JavaScript named once
    assert [(c["id"], c["vars"]) for c in suite["cases"][2:]] == [
        ("003-tests-3-1", {"question": "a"}), ("003-tests-3-2", {"question": "b"})]
    assert notes.count("tests[3]: assertion type 'javascript' has no rampway equivalent") == 1


def test_cli_writes_a_suite_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "promptfooconfig.yaml").write_text(CONFIG)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "other.txt").write_text("Reply in one line: {{question}}\n")
    result = CliRunner().invoke(
        app, ["import", "promptfoo", "promptfooconfig.yaml", "--feature", "bot", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["suite"] == "evals/bot/suite.yaml" and report["cases"] == 4
    suite = load_suite(tmp_path / "evals" / "bot" / "suite.yaml", "bot", tmp_path)
    assert len(suite.cases) == 4
    assert report["prompts"] == [f"evals/bot/promptfoo-prompt-{i}.j2" for i in (1, 2)]
    assert (tmp_path / report["prompts"][1]).read_text() == "Reply in one line: {{question}}"
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


# -- promptfoo example projects (tests/evals/promptfoo_examples) ----------------------------

EXAMPLES = Path(__file__).parent / "promptfoo_examples"


def import_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, *extra: str
) -> tuple[dict[str, Any], Path]:
    """Copy an example next to nothing else, import it with --json, return the report."""
    root = tmp_path / name
    shutil.copytree(EXAMPLES / name, root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    result = CliRunner().invoke(
        app, ["import", "promptfoo", "promptfooconfig.yaml", "--feature", "bot", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    load_suite(root / "evals" / "bot" / "suite.yaml", "bot", root)  # the suite loads
    return report, root


def suite_of(root: Path) -> dict[str, Any]:
    import yaml

    doc: dict[str, Any] = yaml.safe_load((root / "evals" / "bot" / "suite.yaml").read_text())
    return doc


def test_csv_tests_and_a_txt_file_of_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, root = import_example(tmp_path, monkeypatch, "translator-csv")
    assert report["cases"] == 4 and report["not_converted"] == [] and report["judge"] is None
    prompts = [Path(p).read_text() for p in report["prompts"]]
    assert len(prompts) == 2 and prompts[0].startswith("You are a careful translator")
    assert prompts[1].startswith("Translate into {{language}} as a native speaker")
    suite = suite_of(root)
    by_id = {c["id"]: c for c in suite["cases"]}
    greeting = by_id["001-greeting-in-french"]  # __description names the case
    assert greeting["vars"] == {"language": "French", "body": "Good morning"}  # no __ columns
    assert greeting["expect"] == {"icontains": "bonjour", "levenshtein": "Bonjour"}
    assert suite["scorers"]["levenshtein"] == {"type": "levenshtein", "max_distance": 4}
    assert by_id["002-thanks-in-spanish"]["expect"] == {
        "icontains_any": ["gracias", "muchas gracias"]}
    assert by_id["003-asking-the-way"]["expect"] == {"contains": "Bahnhof",
                                                     "not_icontains": "station"}
    assert by_id["004-plain-equals-from-a-bare-cell"]["expect"] == {"equals": "Ho fame"}


def test_yaml_test_files_refs_weights_transforms_and_the_grader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, root = import_example(tmp_path, monkeypatch, "support-rubric")
    suite = suite_of(root)
    ids = [c["id"] for c in suite["cases"]]
    # tests/*.yaml in name order, then the inline test; the transformed case is not imported
    assert ids == ["001-return-window", "002-sources-only", "003-template-that-is-not-there",
                   "005-unsafe-ask-is-refused", "006-inline-escalation"]
    # `$ref: "#/assertionTemplates/…"` resolved, `{{topic}}` rendered from the case's vars
    assert suite["scorers"]["rubric"]["rubric"] == (
        "Is polite, and does not blame the customer for returns")
    assert report["judge"] == {"model": "anthropic:claude-3-5-haiku-20241022",
                               "why": "the config's grader (defaultTest.options.provider)"}
    assert all(c["expect"]["not_icontains"] == "password" for c in suite["cases"])
    assert suite["cases"][3]["expect"]["refusal"] is True  # is-refusal
    # weights → the quality metric; `metric:` names → suite metrics
    metrics = suite["metrics"]
    assert metrics["quality"]["icontains"] == 3 == metrics["accuracy"]["icontains"]
    assert metrics["tone"] == {"rubric": 2, "rubric_2": 2}
    chat = json.loads(Path(report["prompts"][0]).read_text())
    assert [m["role"] for m in chat] == ["system", "user"]
    notes = report["not_converted"]
    assert any("$ref '#/assertionTemplates/mentionsShipping' does not resolve" in n for n in notes)
    assert any(n.startswith("sources only: 'icontains-any' has transform") for n in notes)
    assert any(n.startswith("upper-cased before checking: options.transform") and
               "case skipped" in n for n in notes)
    assert any("weight 1 of 'icontains' dropped" in n for n in notes)


def test_json_and_jsonl_tests_with_native_scorers_and_precise_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, root = import_example(tmp_path, monkeypatch, "json-extraction",
                                  "--judge-model", "sim-large")
    suite = suite_of(root)
    scorers = suite["scorers"]
    assert scorers["cost"] == {"type": "cost", "max_usd": 0.002}
    assert scorers["latency"] == {"type": "latency", "max_ms": 3000}
    assert scorers["contains_json"] == {"type": "json_schema", "anywhere": True,
                                        "schema": {"type": "object", "required": ["invoice"]}}
    assert scorers["contains_json_2"] == {"type": "json_schema", "anywhere": True}
    assert scorers["levenshtein"] == {"type": "levenshtein", "max_distance": 6}
    assert [c["scorers"] for c in suite["cases"]] == [
        ["is_json", "cost", "latency"], ["contains_json", "levenshtein"], ["contains_json_2"]]
    similar, javascript = report["not_converted"]
    assert similar.startswith("similar wording: 'similar' (embedding cosine similarity ≥ 0.85")
    assert "needs an embedding model" in similar
    assert "'javascript' has no rampway equivalent" in javascript


def test_judge_model_maps_rubrics_to_a_catalog_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rampway.evals.promptfoo import DEFAULT_JUDGE, catalog_model
    from rampway.providers.catalog import Catalog

    catalog = Catalog.bundled()
    provider, model = DEFAULT_JUDGE.split(":")
    assert catalog.find(provider, model) is not None  # the default names a catalog model
    assert str(catalog_model("openai:chat:gpt-4.1-2025-04-14", catalog)) == "openai:gpt-4.1"
    assert catalog_model("ollama:chat:llama3.3", catalog) is None

    report, root = import_example(tmp_path, monkeypatch, "support-rubric",
                                  "--judge-model", "sim:sim-large", "--force")
    assert report["judge"] == {"model": "sim:sim-large", "why": "--judge-model"}
    assert {s.get("model") for s in suite_of(root)["scorers"].values()} >= {"sim-large"}

    result = CliRunner().invoke(app, ["import", "promptfoo", "promptfooconfig.yaml",
                                      "--judge-model", "gpt-99", "--force"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --judge-model 'gpt-99' is not in the model catalog")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_grader_outside_the_catalog_falls_back_to_the_default_and_says_so() -> None:
    from rampway.evals.promptfoo import choose_judge
    from rampway.providers.catalog import Catalog

    config = {"defaultTest": {"options": {"provider": {"id": "ollama:chat:llama3.3"}}}}
    judge, why = choose_judge(config, None, Catalog.bundled())
    assert str(judge) == "openai:gpt-4.1"
    assert why.startswith("the config's grader 'ollama:chat:llama3.3' is not in the model catalog")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"p.yaml": "tests: file://missing.csv\n"},
         "error: tests: file://missing.csv: no such file next to the config"),
        ({"p.yaml": "tests: file://t/*.jsonl\n"}, "error: tests: file://t/*.jsonl matches no file"),
        ({"p.yaml": "tests: file://t.jsonl\n", "t.jsonl": '{"vars": {\n'},
         "error: t.jsonl:1: invalid JSON"),
        ({"p.yaml": "tests: file://t.csv\n", "t.csv": "a,b\n1,2,3\n"},
         "error: t.csv:2: row has a different number of columns"),
        ({"p.yaml": "prompts: [file://nope.txt]\n"}, "error: prompts: file://nope.txt: no such"),
        ({"p.yaml": "tests: file://t.yaml\n", "t.yaml": "{a: 1}\n"},
         "error: t.yaml: a tests file must hold a list of tests"),
    ],
)
def test_bad_referenced_files_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = CliRunner().invoke(app, ["import", "promptfoo", "p.yaml", "--feature", "bot"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "evals").exists()


def test_assertion_strings_parse_as_promptfoo_parses_them() -> None:
    from rampway.evals._promptfoo_files import assertion_from_string as parse

    assert parse("icontains:bonjour") == {"type": "icontains", "value": "bonjour"}
    assert parse("contains-any: a, b") == {"type": "contains-any", "value": ["a", "b"]}
    assert parse("similar(0.9):hello") == {"type": "similar", "value": "hello", "threshold": 0.9}
    assert parse("similar:hello")["threshold"] == 0.8
    assert parse("levenshtein(3):abc") == {"type": "levenshtein", "value": "abc", "threshold": 3}
    assert parse("not-icontains:x") == {"type": "not-icontains", "value": "x"}
    assert parse("grade:Is it kind?") == {"type": "llm-rubric", "value": "Is it kind?"}
    assert parse("fn:output.length < 5") == {"type": "javascript", "value": "output.length < 5"}
    assert parse("Paris") == {"type": "equals", "value": "Paris"}
    assert parse("contains-json") == {"type": "contains-json", "value": None}


def test_odd_shapes_are_named_not_crashed_on() -> None:
    result = convert({
        "defaultTest": {"vars": {"tone": "kind"}},
        "tests": [
            {"description": "vars from a file", "vars": "file://vars.yaml",
             "assert": [{"type": "icontains", "value": "x"}]},
            {"description": "one assertion", "vars": {"q": "hi"},
             "assert": {"type": "icontains", "value": "x"}},
            {"description": "empty rubric", "vars": {"q": "hi"},
             "assert": [{"type": "llm-rubric", "value": " "},
                        {"type": "levenshtein", "value": "hi", "threshold": "five"}]},
        ],
    })
    assert result.suite["cases"] == []
    notes = result.not_converted
    assert notes[0] == "vars from a file: vars 'file://vars.yaml' is not a mapping; case skipped"
    assert notes[1].startswith("one assertion: assert ") and notes[1].endswith(
        "is not a list; case skipped")
    assert notes[2] == "empty rubric: 'llm-rubric' without rubric text (' '): not converted"
    assert "'levenshtein' threshold 'five' is not a number" in notes[3]


def test_list_vars_expand_per_combination_and_file_vars_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    report, root = import_example(tmp_path, monkeypatch, "translator-matrix")
    suite = yaml.safe_load((root / "evals" / "bot" / "suite.yaml").read_text())
    cases = {c["id"]: c for c in suite["cases"]}
    greetings = [cases[f"001-greetings-{n}"]["vars"] for n in range(1, 7)]
    assert [(v["language"], v["input"]) for v in greetings] == [
        ("French", "Hello world"), ("French", "Good morning"), ("German", "Hello world"),
        ("German", "Good morning"), ("Spanish", "Hello world"), ("Spanish", "Good morning")]
    assert all(v["tone"] == "friendly" for v in greetings)  # defaultTest vars in every one
    # the rubric is rendered per combination, so each case grades its own translation
    rubrics = {suite["scorers"][s]["rubric"] for c in suite["cases"] for s in c["scorers"]
               if suite["scorers"][s]["type"] == "judge"}
    assert 'Is a faithful German translation of "Good morning"' in rubrics
    assert len(rubrics) == 6

    policy = cases["002-returns-policy"]["vars"]["input"]  # the file's text, trimmed
    assert policy.startswith("You can return any item within 30 days")
    assert policy.endswith("at any post office.")
    faq = [cases[f"003-every-faq-entry-{n}"]["vars"]["input"] for n in (1, 2)]
    assert [f.splitlines()[0] for f in faq] == ["# Exchanges", "# Refunds"]  # sorted by path
    product = json.loads(cases["004-product-sheet"]["vars"]["input"])  # YAML, sent as JSON
    assert product["price"] == {"amount": 89.9, "currency": "EUR"}
    assert cases["005-glossary-passed-whole"]["vars"] == {
        "tone": "friendly", "language": "French", "input": "Our return window is 30 days."}
    assert "context" not in cases["006-retrieved-context"]["vars"]
    assert report["cases"] == len(cases) == 12

    notes = report["not_converted"]
    assert ("Glossary passed whole: var 'glossary' is a list promptfoo sends whole "
            "(disableVarExpansion keeps it whole); rampway templates render lists differently: "
            "var dropped") in notes
    assert any(n.startswith("Retrieved context: var 'context' is computed from "
                            "file://scripts/retrieve.py") for n in notes)
    assert not any("Greetings" in n for n in notes)


def test_var_file_semantics_follow_promptfoo(tmp_path: Path) -> None:
    from rampway.errors import ConfigError
    from rampway.evals._promptfoo_files import read_files

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("alpha\n\n")
    (tmp_path / "docs" / "b.txt").write_text("beta")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "v.yml").write_text("k: [1, 2]\nname: é\n")
    config = {"defaultTest": {"vars": {"doc": "file://docs/a.txt"}},
              "tests": [{"vars": {"img": "file://logo.png", "data": "file://v.yml",
                                  "each": ["file://docs/a.txt", "plain"],
                                  "all": "file://docs/*.txt", "rows": [{"a": 1}]}}]}
    read, _ = read_files(config, tmp_path)
    assert read["defaultTest"]["vars"] == {"doc": "alpha"}
    assert read["tests"][0]["vars"] == {
        "img": "iVBORw0K", "data": '{"k":[1,2],"name":"é"}', "each": ["alpha", "plain"],
        "all": ["alpha", "beta"], "rows": [{"a": 1}]}
    for missing in ("file://docs/c.txt", "file://docs/*.md"):
        with pytest.raises(ConfigError, match=r"vars\.x: file://docs/"):
            read_files({"tests": [{"vars": {"x": missing}}]}, tmp_path)


def test_more_combinations_than_the_limit_are_named_not_generated() -> None:
    from rampway.evals.promptfoo import MAX_COMBINATIONS

    values = [str(n) for n in range(40)]
    result = convert({"tests": [{"description": "huge", "vars": {"a": values, "b": values},
                                 "assert": [{"type": "icontains", "value": "x"}]}]})
    assert MAX_COMBINATIONS < 40 * 40 and result.suite["cases"] == []
    assert result.not_converted[0] == (f"huge: list vars expand to 1600 cases (more than "
                                       f"{MAX_COMBINATIONS}): case skipped")
