"""Tool-call arguments: ids are extracted whole, and a wrong argument is a realistic mistake.

Regression: an eval saw lookup_order("A-1044") for "A-10442" — the sim's "wrong argument"
error chopped the last character, which looks like an extraction bug, not a model mistake.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rampway.providers.sim import load_sim_config
from rampway.providers.sim._engine import Choice, plan_answer
from rampway.providers.sim._tasks.tools import _ids, _transposed
from rampway.providers.types import ChatRequest, Message

CFG = load_sim_config()
IDS = ("A-10442", "12345", "ORD-778899")
ASKS = ("Where is my order {}?", "What's the status of order #{}", "Track {} please.",
        "order ({}) has not arrived", "Can you look up {}, I ordered it last week")


def order_tool(pattern: str | None = None) -> dict[str, object]:
    prop: dict[str, object] = {"type": "string"}
    if pattern:
        prop["pattern"] = pattern
    return {"type": "function", "function": {
        "name": "lookup_order", "description": "Look up the status of an order by its id",
        "parameters": {"type": "object", "properties": {"order_id": prop},
                       "required": ["order_id"]}}}


def call(user: str, model: str = "sim-large", seed: int = 0, system: str | None = None,
         pattern: str | None = None) -> Choice:
    msgs = ([Message("system", system)] if system else []) + [Message("user", user)]
    req = ChatRequest(model=model, messages=msgs, tools=[order_tool(pattern)],
                      tool_choice="required", temperature=0, seed=seed)
    return plan_answer(req, CFG.models[model], entropy=0).choices[0]


def order_id(choice: Choice) -> str | None:
    """The id of the first call; None for a refusal (models refuse at their refusal_rate)."""
    if choice.refusal is not None:
        return None
    assert choice.tool_calls
    return str(json.loads(choice.tool_calls[0].arguments)["order_id"])


def order_ids(choice: Choice) -> list[str]:
    return [json.loads(c.arguments)["order_id"] for c in choice.tool_calls or []]


@pytest.mark.parametrize(("text", "expected"), [
    ("Where is my order A-10442?", ["A-10442"]),
    ("order 12345.", ["12345"]),
    ("ORD-778899 please", ["ORD-778899"]),
    ("#A-10442's status", ["A-10442"]),
    ("orders A-10442, B-20931 and 12345", ["A-10442", "B-20931", "12345"]),
    ("INVOICE-778899 and SHIP-ORD-778899", ["INVOICE-778899", "SHIP-ORD-778899"]),
    ("ORD778899 or A_10442", ["ORD778899", "A_10442"]),
    ("order A\u201310442 (typed with an en dash)", ["A-10442"]),
    ("Shipping takes 3-5 days, refunds 10-15; since 2024-05-01 I wait for A-10442",
     ["A-10442"]),
    ("a €30 order, order 42", []),
])
def test_ids_are_extracted_whole(text: str, expected: list[str]) -> None:
    assert _ids(text) == expected


def _is_realistic_mistake(wrong: str, right: str, context_ids: set[str]) -> bool:
    transposed = len(wrong) == len(right) and sorted(wrong) == sorted(right)
    one_digit = len(wrong) == len(right) and sum(a != b for a, b in zip(wrong, right,
                                                                        strict=True)) == 1
    dropped_prefix = right.endswith(wrong) and wrong[0].isdigit()
    return wrong != right and (transposed or one_digit or dropped_prefix or wrong in context_ids)


def test_order_ids_are_never_truncated() -> None:
    outcomes: Counter[str] = Counter()
    for model in ("sim-large", "sim-small"):
        for value in IDS:
            for template in ASKS:
                for seed in range(8):
                    choice = call(template.format(value), model, seed)
                    got = order_id(choice)
                    if got is None:
                        continue
                    if choice.correct:
                        assert got == value, (template, seed)
                        outcomes["right"] += 1
                        continue
                    assert not value.startswith(got) and _is_realistic_mistake(got, value, set())
                    outcomes["wrong"] += 1
    assert outcomes["wrong"] >= 20 and outcomes["right"] > outcomes["wrong"]


def test_the_reported_case_a_10442_never_becomes_a_1044() -> None:
    got = {order_id(call("Where is my order A-10442?", m, s))
           for m in ("sim-large", "sim-small", "sim-large-2") for s in range(100)}
    got.discard(None)
    assert "A-10442" in got and "A-1044" not in got
    assert all(v is not None and len(v) >= 5 for v in got)


def test_a_wrong_id_may_be_copied_from_a_few_shot_example() -> None:
    system = ("You are a support agent.\nExample: Where is A-10442? -> lookup_order(A-10442)")
    wrong = Counter(
        order_id(c) for s in range(300)
        if not (c := call("Where is my order B-20931?", "sim-small", s, system)).correct
        and c.refusal is None
    )
    assert wrong["A-10442"] > 0
    assert all(w and _is_realistic_mistake(w, "B-20931", {"A-10442"}) for w in wrong)


def test_the_id_that_fits_the_schema_pattern_is_preferred() -> None:
    text = "My customer number is 99887766 and the order is A-10442"
    right = [c for s in range(20) if (c := call(text, seed=s, pattern=r"^[A-Z]-\d{5}$")).correct]
    assert right and all(order_ids(c) == ["A-10442"] for c in right)
    unpatterned = [c for s in range(20) if (c := call(text, seed=s)).correct]
    assert unpatterned and all(order_ids(c) == ["99887766", "A-10442"] for c in unpatterned)


@pytest.mark.parametrize(("value", "wrong"), [("Paris", "Pari"), ("P", "P1"), ("A-10442", None)])
def test_a_wrong_id_always_differs_even_without_digits(value: str, wrong: str | None) -> None:
    import random
    from types import SimpleNamespace
    from typing import Any, cast

    got = _transposed(value, cast(Any, SimpleNamespace(case_rng=random.Random(0))))
    assert got != value and (wrong is None or got == wrong)
