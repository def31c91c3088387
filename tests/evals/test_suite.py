"""Suite loading: every source format, and one clear `file:line` error per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.errors import ConfigError
from rampway.evals.suite import load_suite

BASE = """\
cases:
  - id: inline-1
    input: How long is the return window?
    expect: {answer: 30 days}
    tags: [critical]
  - file: cases/more.jsonl
    tags: [faq]
scorers:
  answer: {type: contains}
  polite: {type: refusal}
metrics:
  quality: {answer: 2, polite: 1}
"""


def write(root: Path, suite: str, files: dict[str, str] | None = None) -> Path:
    path = root / "evals" / "bot" / "suite.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(suite)
    for name, text in (files or {}).items():
        (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / name).write_text(text)
    return path


JSONL = '{"id": "j1", "input": "hi", "expect": {"answer": "hello"}}\n\n{"input": "yo"}\n'


def test_loads_inline_jsonl_csv_and_yaml_cases(tmp_path: Path) -> None:
    suite_text = BASE + "  recall: {answer: 1}\n"
    suite_text = suite_text.replace(
        "  - file: cases/more.jsonl\n    tags: [faq]\n",
        "  - file: cases/more.jsonl\n    tags: [faq]\n  - file: cases/t.csv\n"
        "  - file: cases/y.yaml\n",
    )
    csv = "id,input,expect.answer,tags,weight,plan\nc1,Hello,hi,critical;x,2,plus\n"
    yml = "- {input: a, expect: {answer: b}}\n- {vars: {plan: free}, expect: {answer: c}}\n"
    path = write(tmp_path, suite_text, {"cases/more.jsonl": JSONL, "cases/t.csv": csv,
                                         "cases/y.yaml": yml})
    suite = load_suite(path, "bot", tmp_path)
    ids = [c.id for c in suite.cases]
    assert ids == ["inline-1", "j1", "more-2", "c1", "y-1", "y-2"]
    c1 = suite.case("c1")
    assert c1.weight == 2 and c1.critical and c1.vars == {"plan": "plus"}
    assert c1.where == "evals/bot/cases/t.csv:2"
    assert suite.case("j1").tags == frozenset({"faq"})
    assert suite.case("more-2").where == "evals/bot/cases/more.jsonl:3"
    assert suite.metric_names == ["quality", "recall", "pass_rate"]
    assert len(suite.digest) == 64


def test_digest_changes_with_cases_but_not_formatting(tmp_path: Path) -> None:
    path = write(tmp_path, BASE, {"cases/more.jsonl": JSONL})
    first = load_suite(path, "bot", tmp_path).digest
    path.write_text("# comment\n" + BASE)
    assert load_suite(path, "bot", tmp_path).digest == first
    path.write_text(BASE.replace("30 days", "thirty days"))
    assert load_suite(path, "bot", tmp_path).digest != first


@pytest.mark.parametrize(
    ("suite", "files", "where", "message"),
    [
        (BASE.replace("type: contains", "type: containz"), {}, "suite.yaml:9", "scorers.answer"),
        (BASE.replace("{answer: 2, polite: 1}", "{answr: 2}"), {}, "suite.yaml:12",
         "unknown scorer 'answr'"),
        (BASE, {"cases/more.jsonl": '{"input": "a"}\n{"input": \n'}, "more.jsonl:2",
         "invalid JSON"),
        (BASE, {"cases/more.jsonl": '{"input": "a", "expectt": {}}\n'}, "more.jsonl:1",
         "expectt"),
        (BASE, {"cases/more.jsonl": '{"input": "a", "expect": {"answr": "x"}}\n'},
         "more.jsonl:1", "no scorer reads expectation 'answr'"),
        (BASE, {"cases/more.jsonl": '{"id": "inline-1", "input": "a"}\n'}, "more.jsonl:1",
         "duplicate case id 'inline-1'"),
        (BASE.replace("cases/more.jsonl", "cases/missing.jsonl"), {}, "suite.yaml:6",
         "cannot read case file"),
        (BASE.replace("    input: How long", "    inptu: How long"), {"cases/more.jsonl": JSONL},
         "suite.yaml:3", "cases[0].inptu: unknown key"),
        ("cases: [\n", {}, "suite.yaml:2", "malformed YAML"),
        (BASE.replace("[critical]", "[critical]\n    weight: -1"), {"cases/more.jsonl": JSONL},
         "suite.yaml:6", "weight"),
        (BASE + "scorers:\n  x: {type: exact}\n", {}, "suite.yaml:13", "duplicate key 'scorers'"),
        (BASE.replace("polite: {type: refusal}", "polite: {type: judge, rubric: r}"), {},
         "suite.yaml:10", "scorers.polite.model: required key is missing"),
        (BASE, {"cases/more.jsonl": '{"input": "a", "expectt": {}}\n'}, "more.jsonl:1",
         "expectt: unknown key"),
    ],
)
def test_bad_suite_is_one_error_naming_file_and_line(
    tmp_path: Path, suite: str, files: dict[str, str], where: str, message: str
) -> None:
    path = write(tmp_path, suite, files or {"cases/more.jsonl": JSONL})
    with pytest.raises(ConfigError) as err:
        load_suite(path, "bot", tmp_path)
    first = err.value.message.split(": ", 1)[0]
    assert first.endswith(where), err.value.message
    assert message in err.value.message


def test_csv_rows_with_wrong_column_count_name_the_row(tmp_path: Path) -> None:
    suite = BASE.replace("cases/more.jsonl", "cases/t.csv")
    path = write(tmp_path, suite, {"cases/t.csv": "input,expect.answer\nok,yes\nbad\n"})
    with pytest.raises(ConfigError, match=r"t\.csv:3: row has a different number of columns"):
        load_suite(path, "bot", tmp_path)


def test_python_scorer_from_a_file_next_to_the_suite(tmp_path: Path) -> None:
    suite = BASE.replace("polite: {type: refusal}", "polite: {type: python, function: s.py:f}")
    files = {"cases/more.jsonl": JSONL, "s.py": "def f(output, case):\n    return 0.25\n"}
    loaded = load_suite(write(tmp_path, suite, files), "bot", tmp_path)
    from rampway.evals.scorers import Output

    score = loaded.scorers["polite"].score(Output("x"), loaded.cases[0].view())
    assert score is not None and score.value == 0.25


def test_python_scorer_that_cannot_be_imported_is_a_config_error(tmp_path: Path) -> None:
    suite = BASE.replace("polite: {type: refusal}", "polite: {type: python, function: nope:f}")
    with pytest.raises(ConfigError, match=r"suite\.yaml:10: cannot import scorer 'nope:f'"):
        load_suite(write(tmp_path, suite, {"cases/more.jsonl": JSONL}), "bot", tmp_path)
