"""Each difference class, from the pair of answers that shows it (and the ones that don't)."""

from __future__ import annotations

import json

import pytest

from rampway.shadow.compare import (
    NOT_JSON,
    Comparison,
    Thresholds,
    compare,
    difference_classes,
    failure_kinds,
    json_document,
    json_field_differences,
    normalized_equal,
    similarity,
    tool_call_differences,
)
from rampway.shadow.model import Answer, Pair, ToolUse

TEXT = "Your order ships on Monday and arrives within three business days."


def classes(primary: Answer, mirrored: Answer) -> set[str]:
    return set(compare(primary, mirrored).classes)


def text(t: str | None, **kw: object) -> Answer:
    return Answer(text=t, output_tokens=len((t or "").split()), **kw)  # type: ignore[arg-type]


def tool(name: str, **args: object) -> ToolUse:
    return ToolUse(name, json.dumps(args))


# ------------------------------------------------------------------- equality and text


def test_identical_answers_have_no_difference() -> None:
    c = compare(text(TEXT), text(TEXT))
    assert c.classes == frozenset() and c.exact_equal and c.normalized_equal
    assert c.similarity == 1.0 and c.length_ratio == 1.0


def test_case_and_whitespace_only_is_formatting() -> None:
    c = compare(text(TEXT), text("  " + TEXT.upper().replace(" ", "\n  ")))
    assert c.classes == {"text:formatting"}
    assert c.exact_equal is False and c.normalized_equal is True


def test_reworded_answer_is_different_but_similar() -> None:
    reworded = "Your order arrives within three business days; it ships on Monday."
    c = compare(text(TEXT), text(reworded))
    assert c.classes == {"text:different"}
    assert c.similarity is not None and c.similarity > 0.8


def test_unrelated_answer_is_dissimilar() -> None:
    c = compare(text(TEXT), text("Please reset your password from the account page."))
    assert c.classes == {"text:different", "text:dissimilar"}
    assert c.similarity is not None and c.similarity < 0.5


def test_similarity_and_normalized_equality_helpers() -> None:
    assert normalized_equal("Paris.", "  PARIS ")
    assert not normalized_equal("Paris", "Lyon")
    assert similarity("ships monday order", "Order ships Monday!") == 1.0
    assert similarity("abc", "xyz") < 0.5


def test_texts_not_kept_compare_lengths_by_tokens_only() -> None:
    c = compare(Answer(output_tokens=50), Answer(output_tokens=120))
    assert c.classes == {"verbosity:longer_1.5x", "verbosity:longer_2x"}
    assert c.exact_equal is None and c.similarity is None and c.length_ratio == 2.4


# ------------------------------------------------------------------- verbosity


@pytest.mark.parametrize(("factor", "expected"), [
    (2, {"verbosity:longer_1.5x", "verbosity:longer_2x"}), (1.9, {"verbosity:longer_1.5x"}),
    (1.4, set()), (0.7, set()), (0.6, {"verbosity:shorter_0.67x"}),
    (0.5, {"verbosity:shorter_0.67x", "verbosity:shorter_0.5x"}),
])
def test_verbosity_classes_at_the_length_ratio_thresholds(factor: float,
                                                          expected: set[str]) -> None:
    base = "x" * 100
    got = classes(text(base), text("y" * int(100 * factor)))
    assert got - {"text:different", "text:dissimilar"} == expected


def test_verbosity_thresholds_are_configurable() -> None:
    c = compare(text("a" * 100), text("b" * 130), Thresholds(longer=(1.25,)))
    assert {n for n in c.classes if n.startswith("verbosity")} == {"verbosity:longer_1.25x"}


# ------------------------------------------------------------------- JSON


def test_json_field_difference_names_the_field() -> None:
    a = text('{"intent": "refund", "order": {"id": "A-1", "items": [1, 2]}}')
    b = text('{"intent": "shipping", "order": {"id": "A-1", "items": [1, 2]}}')
    assert classes(a, b) == {"json_field:intent"}


def test_json_fields_compare_loosely_and_nest() -> None:
    a = text('{"total": 12, "vendor": "ACME Inc", "order": {"id": "A-1", "city": "Oslo"}}')
    b = text('```json\n{"total": 12.0, "vendor": "acme inc", "order": {"id": "A-2"}}\n```')
    assert classes(a, b) == {"json_field:order.city", "json_field:order.id"}


def test_json_field_depth_and_whole_documents() -> None:
    deep_a, deep_b = {"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 2}}}
    assert json_field_differences(deep_a, deep_b) == ["a.b.c"]
    assert json_field_differences(deep_a, deep_b, depth=1) == ["a"]
    assert json_field_differences([1, 2], [2, 1]) == ["$"]
    assert json_field_differences({"a": 1}, {"a": 1, "b": 2}) == ["b"]


def test_json_field_classes_are_bounded_per_pair() -> None:
    a = {f"k{i}": i for i in range(100)}
    b = {f"k{i}": -i - 1 for i in range(100)}
    assert len(json_field_differences(a, b, limit=20)) == 20
    got = classes(text(json.dumps(a)), text(json.dumps(b)))
    assert len(got) == 20


def test_invalid_json_when_the_primary_was_json() -> None:
    a = text('{"intent": "refund"}')
    assert classes(a, text('{"intent": "refund",}')) == {"failure:invalid_json"}
    assert classes(a, text('Here it is:\n```json\n{"intent": "refund"}\n```')) == {
        "failure:invalid_json"}


def test_missing_key_or_other_document_kind_is_a_schema_violation() -> None:
    a = text('{"intent": "refund", "priority": "high"}')
    assert classes(a, text('{"intent": "refund"}')) == {"failure:schema", "json_field:priority"}
    assert "failure:schema" in classes(a, text('["refund"]'))
    assert "failure:schema" not in classes(a, text('{"intent": "refund", "priority": "high", '
                                                   '"extra": 1}'))


def test_plain_text_primary_is_not_json() -> None:
    assert json_document("14") is NOT_JSON and json_document("The answer is 14") is NOT_JSON
    assert json_document('{"a": 1}') == {"a": 1}
    assert classes(text("The total is 14 dollars."), text("{not json at all}")) == {
        "text:different", "text:dissimilar"}


# ------------------------------------------------------------------- tool calls


def test_tool_call_added_and_dropped() -> None:
    call = Answer(tool_calls=(tool("lookup_order", order_id="A-1"),), finish_reason="tool_calls")
    assert classes(text(TEXT), call) == {"tool_call:added"}
    assert classes(call, text(TEXT)) == {"tool_call:dropped"}


def test_another_tool_or_another_number_of_calls() -> None:
    one = (tool("lookup_order", order_id="A-1"),)
    assert tool_call_differences(one, (tool("cancel_order", order_id="A-1"),)) == {
        "tool_call:name"}
    two = (*one, tool("lookup_order", order_id="A-2"))
    assert tool_call_differences(one, two) == {"tool_call:count"}


def test_argument_keys_and_values() -> None:
    a = (tool("lookup_order", order_id="A-1", verbose=True),)
    assert tool_call_differences(a, (tool("lookup_order", order_id="A-2", verbose=True),)) == {
        "tool_call:argument:order_id"}
    assert tool_call_differences(a, (tool("lookup_order", order_id="a-1"),)) == {
        "tool_call:arg_keys"}
    assert tool_call_differences(a, (ToolUse("lookup_order", "{oops"),)) == {
        "tool_call:invalid_arguments"}


def test_parallel_calls_are_matched_whatever_their_order() -> None:
    a = (tool("lookup_order", order_id="A-1"), tool("lookup_order", order_id="A-2"))
    assert tool_call_differences(a, tuple(reversed(a))) == set()


def test_tool_calls_skip_text_classes() -> None:
    call = Answer(tool_calls=(tool("lookup_order", order_id="A-1"),))
    assert classes(call, call) == set()


# ------------------------------------------------------------------- refusals


def test_refusal_added_by_flag_or_wording() -> None:
    assert classes(text(TEXT), Answer(refusal=True, text=None)) == {"refusal:added"}
    assert classes(text(TEXT), text("I'm sorry, but I can't help with that request.")) == {
        "refusal:added"}
    assert classes(Answer(refusal=True), text(TEXT)) == {"refusal:dropped"}


# ------------------------------------------------------------------- failures


def test_error_and_timeout_compare_nothing_else() -> None:
    assert classes(text(TEXT), Answer(status="error", error_code="server_error")) == {
        "failure:error"}
    assert classes(text(TEXT), Answer(status="error", error_code="timeout")) == {
        "failure:timeout"}
    both = Answer(status="error", error_code="timeout")
    assert classes(both, both) == set()


def test_truncated_and_empty() -> None:
    assert classes(text(TEXT, finish_reason="stop"),
                   text(TEXT, finish_reason="length")) == {"failure:truncated"}
    assert classes(text(TEXT), text("  ")) == {"failure:empty"}
    assert classes(Answer(output_tokens=30), Answer(output_tokens=0)) == {"failure:empty"}


def test_failure_kinds_of_one_answer() -> None:
    assert failure_kinds(Answer(status="error", error_code="upstream_timeout")) == {"timeout"}
    assert failure_kinds(Answer(text="", finish_reason="length")) == {"truncated", "empty"}
    assert failure_kinds(Answer(text="{"), expects_json={"a": 1}, document=NOT_JSON) == {
        "invalid_json"}


def test_difference_classes_of_a_pair() -> None:
    pair = Pair("s", "r1", "u1", 0.0, "candidate", "rel", text(TEXT), text(TEXT + " " + TEXT +
                                                                            " Thanks!"))
    assert difference_classes(pair) == {"text:different", "verbosity:longer_1.5x",
                                        "verbosity:longer_2x"}


def test_comparisons_equal_the_constructors_own_field_by_field() -> None:
    # compare builds its Comparisons through the slots' setters: the same frozen objects
    primary = Answer(text="Your order ships Monday.", output_tokens=6)
    scored = compare(primary, Answer(text="Your order ships on Monday, thanks!", output_tokens=9))
    same = compare(primary, Answer(text="your order ships monday", output_tokens=5))
    built = [Comparison(scored.classes, False, False, scored.similarity, scored.length_ratio,
                        False, scored.scopes, frozenset(), frozenset()),
             Comparison(frozenset({"text:formatting"}), False, True, 1.0,
                        len("your order ships monday") / len("Your order ships Monday."),
                        False, same.scopes, frozenset(), frozenset())]
    assert [scored, same] == built
    assert [hash(scored), hash(same)] == [hash(c) for c in built]
    assert scored.similarity is not None and scored.classes >= {"text:different"}
    with pytest.raises(AttributeError):
        scored.similarity = 0.0  # type: ignore[misc]
