"""Each scorer: a score in [0, 1] and a pass/fail, and 'does not apply' when unexpected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from rampway.evals.scorers import (
    CaseView,
    JudgeScorer,
    Output,
    Score,
    ScorerSpec,
    coerce_user_score,
    normalize_text,
)
from rampway.providers.types import ToolCall

SPEC: TypeAdapter[Any] = TypeAdapter(ScorerSpec)


UNSET: Any = object()


def run(spec: dict[str, Any], content: str = "", expect: Any = UNSET, **out: Any) -> Score | None:
    scorer = SPEC.validate_python(spec)
    case = CaseView("c1", expect={} if expect is UNSET else {"s": expect})
    return scorer.score("s", Output(content=content, **out), case)  # type: ignore[no-any-return]


def test_exact_and_normalized_match() -> None:
    assert run({"type": "exact"}, "Paris", "Paris") == Score(1.0, True)
    assert run({"type": "exact"}, "paris.", "Paris").passed is False  # type: ignore[union-attr]
    assert run({"type": "normalized"}, "  PARIS. ", "paris").passed  # type: ignore[union-attr]
    assert normalize_text(' "Ｐaris!" ') == "paris"


def test_scorer_without_expectation_does_not_apply() -> None:
    assert run({"type": "exact"}, "Paris") is None
    assert run({"type": "tool_call"}, "") is None


def test_extract_compares_only_the_captured_label() -> None:
    spec = {"type": "normalized", "extract": r"intent(?: is|:)\s*([a-z_]+)"}
    assert run(spec, "intent: returns\nSure, here is how", "returns").passed  # type: ignore[union-attr]
    assert run(spec, "The intent is billing.", "returns").passed is False  # type: ignore[union-attr]
    missing = run(spec, "Hello!", "returns")
    assert missing is not None and missing.value == 0 and "no match" in missing.detail
    with pytest.raises(ValidationError):
        SPEC.validate_python({"type": "exact", "extract": "no group"})


def test_contains_scores_the_share_of_needles() -> None:
    score = run({"type": "contains"}, "Returns within 30 days", ["30 days", "free label"])
    assert score == Score(0.5, False, "missing/unwanted: 'free label'")
    assert run({"type": "contains", "mode": "any"}, "30 days", ["x", "30 days"]).passed  # type: ignore[union-attr]
    assert run({"type": "not_contains", "value": "password"}, "reset it").passed  # type: ignore[union-attr]


def test_regex_and_invalid_pattern() -> None:
    assert run({"type": "regex", "pattern": r"\d{5}"}, "order 10442").passed  # type: ignore[union-attr]
    assert not run({"type": "regex", "pattern": "abc", "negate": True}, "abc").passed  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="invalid regular expression"):
        SPEC.validate_python({"type": "regex", "pattern": "("})


def test_json_schema_validity() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "number"}}}
    assert run({"type": "json_schema", "schema": schema}, '{"a": 1}').passed  # type: ignore[union-attr]
    assert run({"type": "json_schema", "schema": schema}, '```json\n{"a": 2}\n```').passed  # type: ignore[union-attr]
    bad = run({"type": "json_schema", "schema": schema}, '{"a": "x"}')
    assert bad is not None and not bad.passed and "schema" in bad.detail
    assert not run({"type": "json_schema"}, "not json").passed  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="invalid JSON schema"):
        SPEC.validate_python({"type": "json_schema", "schema": {"type": "nope"}})


def test_json_fields_share_of_fields_right() -> None:
    expected = {"vendor": "ACME GmbH", "total": 12.5, "due": None}
    answer = json.dumps({"vendor": "acme gmbh", "total": "12.50", "due": "2024-01-01"})
    score = run({"type": "json_fields"}, answer, expected)
    assert score is not None and score.value == pytest.approx(2 / 3) and not score.passed
    assert "due" in score.detail


def test_numeric_tolerance_and_field() -> None:
    assert run({"type": "numeric", "abs_tol": 0.01}, "The answer is 1,234.50", 1234.5).passed  # type: ignore[union-attr]
    assert not run({"type": "numeric"}, "It is 12", 13).passed  # type: ignore[union-attr]
    assert run({"type": "numeric", "field": "total"}, '{"total": 9.99}', 9.99).passed  # type: ignore[union-attr]
    assert run({"type": "numeric"}, "no digits", 3).value == 0  # type: ignore[union-attr]


def test_tool_call_name_and_arguments() -> None:
    call = ToolCall("1", "lookup_order", '{"order_id": "A-10442", "verbose": true}')
    want = {"name": "lookup_order", "arguments": {"order_id": "A-10442"}}
    assert run({"type": "tool_call"}, "", want, tool_calls=(call,)) == Score(1.0, True)
    wrong = {"name": "lookup_order", "arguments": {"order_id": "B-1"}}
    partial = run({"type": "tool_call"}, "", wrong, tool_calls=(call,))
    assert partial is not None and partial.value == 0.5 and not partial.passed
    exact = run({"type": "tool_call", "arguments": "exact"}, "", want, tool_calls=(call,))
    assert exact is not None and not exact.passed
    none = run({"type": "tool_call"}, "hi", want)
    assert none == Score(0.0, False, "expected call lookup_order, got none")
    assert run({"type": "tool_call"}, "hi", None).passed  # type: ignore[union-attr]


def test_refusal_detection() -> None:
    assert run({"type": "refusal"}, "Sure, here you go").passed  # type: ignore[union-attr]
    assert not run({"type": "refusal"}, "I'm sorry, but I can't help with that.").passed  # type: ignore[union-attr]
    assert run({"type": "refusal"}, "", True, refusal="No.").passed  # type: ignore[union-attr]


def test_length_bounds_decay_instead_of_cliff() -> None:
    score = run({"type": "length", "max_words": 5}, " ".join(["word"] * 10))
    assert score is not None and score.value == 0.5 and not score.passed
    with pytest.raises(ValidationError, match="at least one bound"):
        SPEC.validate_python({"type": "length"})


def test_judge_parses_a_grade_deterministically() -> None:
    judge = JudgeScorer(type="judge", rubric="polite", model="sim-large")
    assert judge.parse("SCORE: 5") == Score(1.0, True, "judge grade 5/5")
    assert judge.parse("score = 3\nbecause").value == 0.5
    assert not judge.parse("great answer").passed
    assert not judge.parse("SCORE: 9").passed
    prompt = judge.prompt("j", Output("Hello"), CaseView("c", expect={"j": "Hi there"}, input="hi"))
    assert "Reference answer: Hi there" in prompt and "SCORE: <n>" in prompt


def test_user_function_results_are_coerced_and_checked() -> None:
    assert coerce_user_score(True, "m:f") == Score(1.0, True)
    assert coerce_user_score(0.4, "m:f") == Score(0.4, False)
    assert coerce_user_score((0.9, False), "m:f") == Score(0.9, False)
    assert not coerce_user_score(1.7, "m:f").passed
    assert "returned str" in coerce_user_score("yes", "m:f").detail


def test_levenshtein_passes_within_the_distance_and_scores_near_misses() -> None:
    from rampway.evals.scorers import levenshtein

    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3
    assert levenshtein("same", "same") == 0
    near = run({"type": "levenshtein", "max_distance": 3}, "sitting", "kitten")
    assert near is not None and near.passed and near.value == pytest.approx(1 - 3 / 7)
    far = run({"type": "levenshtein", "max_distance": 2}, "sitting", "kitten")
    assert far is not None and not far.passed and far.detail == "edit distance 3 > 2"
    assert run({"type": "levenshtein"}, "anything") is None  # no expectation: does not apply


def test_json_anywhere_finds_json_inside_prose() -> None:
    schema = {"type": "object", "required": ["invoice"]}
    chatty = 'Sure! Here it is: {"invoice": "RE-77", "total": 89} — anything else? [1, 2]'
    assert run({"type": "json_schema", "anywhere": True, "schema": schema}, chatty) == Score(
        1.0, True)
    wrong = run({"type": "json_schema", "anywhere": True, "schema": schema}, 'ok {"total": 1}')
    assert wrong is not None and not wrong.passed and "invoice" in wrong.detail
    none = run({"type": "json_schema", "anywhere": True}, "no braces {here")
    assert none == Score(0.0, False, "no JSON object or array in the answer")
    strict = run({"type": "json_schema"}, chatty)
    assert strict is not None and not strict.passed  # without `anywhere` prose is not JSON


def test_cost_and_latency_budgets_per_call() -> None:
    assert run({"type": "cost", "max_usd": 0.01}, cost_usd=0.004) == Score(1.0, True)
    over = run({"type": "cost", "max_usd": 0.01}, cost_usd=0.02)
    assert over == Score(0.5, False, "$0.020000 > $0.01")
    slow = run({"type": "latency", "max_ms": 500}, latency_s=2.0)
    assert slow == Score(0.25, False, "2000 ms > 500 ms")
    assert run({"type": "latency", "max_ms": 500}, latency_s=0.2) == Score(1.0, True)
    with pytest.raises(ValidationError):
        SPEC.validate_python({"type": "cost", "max_usd": 0})
