"""The pure engine: determinism, task families, tools, refusals, limits."""

from __future__ import annotations

import json

import pytest

from rampway.errors import ContextWindowExceeded, ProviderBadRequest
from rampway.providers.sim import load_sim_config
from rampway.providers.sim._engine import AnswerPlan, plan_answer, prompt_tokens
from rampway.providers.sim._tokens import count, pieces
from rampway.providers.types import ChatRequest, Message, ToolCall

CFG = load_sim_config()
ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up the status of an order by its id",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def ask(
    text: str,
    model: str = "sim-large",
    *,
    system: str | None = None,
    entropy: int = 0,
    n: int = 1,
    **kw: object,
) -> AnswerPlan:
    msgs = ([Message("system", system)] if system else []) + [Message("user", text)]
    kw.setdefault("temperature", 0)
    req = ChatRequest(model=model, messages=msgs, **kw)  # type: ignore[arg-type]
    return plan_answer(req, CFG.models[model], entropy=entropy, n=n)


def test_tokenizer_pieces_concatenate_to_the_text() -> None:
    text = "Invoice #INV-2231: total $1,234.56 due 2024-05-01.\n\nThanks!  "
    assert "".join(pieces(text)) == text
    assert count(text) == len(pieces(text))
    assert count(("word " * 400).strip()) == 400
    assert count(None) == 0


def test_same_request_gives_the_same_answer() -> None:
    a = ask("Tell me about rivers", temperature=0.9, seed=42, entropy=1)
    b = ask("Tell me about rivers", temperature=0.9, seed=42, entropy=2)
    assert a.choices[0].content == b.choices[0].content
    assert a.usage == b.usage


def test_temperature_zero_without_seed_is_deterministic() -> None:
    a = ask("Tell me about mountains", entropy=1)
    b = ask("Tell me about mountains", entropy=999)
    assert a.choices[0].content == b.choices[0].content


def test_positive_temperature_without_seed_uses_fresh_randomness() -> None:
    outs = {
        ask("Tell me about forests", temperature=1.0, entropy=e).choices[0].content
        for e in range(8)
    }
    assert len(outs) > 1


def test_sample_index_changes_the_sample() -> None:
    plan = ask("Tell me about oceans", n=4, seed=3)
    assert len(plan.choices) == 4
    assert len({c.content for c in plan.choices}) > 1
    assert plan.usage.output_tokens == sum(c.output_tokens for c in plan.choices)


def test_arithmetic_word_problem_is_solved() -> None:
    choice = ask(
        "Tom has 12 apples. He buys 5 more and gives away 3. How many are left?",
        system="You are a precise math tutor. Think step by step.",
    ).choices[0]
    assert choice.family == "arithmetic"
    assert choice.correct and choice.content is not None and "The answer is 14." in choice.content


def test_one_word_instruction_makes_the_answer_terse() -> None:
    choice = ask("What is the capital of France? Answer in one word.").choices[0]
    assert choice.content == "Paris"
    long = ask("What is the capital of France?", model="sim-large-2").choices[0]
    assert long.content is not None and len(long.content) > len("Paris") + 10


def test_faq_answer_contains_the_key_fact_when_correct() -> None:
    questions = [
        "How long does standard shipping take?",
        "How long will delivery take?",
        "When will my standard shipping arrive?",
        "How long does it take to ship?",
    ]
    grounded = "You are a support agent. Policy: standard shipping takes 3-5 business days."
    for q in questions:
        for system in (None, grounded):
            choice = ask(q, model="sim-small", system=system).choices[0]
            assert choice.family == "faq"
            assert choice.content is not None
            assert choice.correct is ("3-5 business days" in choice.content)
            assert choice.correct or "7-10 business days" in choice.content
    right = sum(
        bool(ask(q, model="sim-small", system=grounded).choices[0].correct) for q in questions
    )
    assert right >= 3


def test_classification_uses_labels_from_the_prompt() -> None:
    choice = ask(
        "Classify into: refund_request, delivery_problem, other. Answer with only "
        "the label.\nMessage: my package never arrived"
    ).choices[0]
    assert choice.family == "classification"
    assert choice.content in ("refund_request", "delivery_problem", "other")
    assert choice.correct is (choice.content == "delivery_problem")


def test_extraction_follows_the_json_schema_keys() -> None:
    schema = {
        "type": "object",
        "properties": {
            "seller": {"type": "string"},
            "amount": {"type": "string"},
            "po_number": {"type": "string"},
        },
    }
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    choice = ask(
        "Invoice from Acme Corp\nPO number: 7781\nTotal: $12.50",
        system="Extract invoice fields.",
        response_format=rf,
    ).choices[0]
    assert choice.family == "extraction"
    data = json.loads(choice.content or "")
    assert set(data) == {"seller", "amount", "po_number"}
    if choice.correct:
        assert data == {"seller": "Acme Corp", "amount": "12.50", "po_number": "7781"}


def test_tool_is_called_with_arguments_from_the_message() -> None:
    choice = ask(
        "where is my order 12345", tools=[WEATHER_TOOL, ORDER_TOOL], tool_choice="required"
    ).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.tool_calls
    call = choice.tool_calls[0]
    assert call.name == "lookup_order"
    assert call.id.startswith("call_")
    if choice.correct:
        assert json.loads(call.arguments) == {"order_id": "12345"}


def test_tool_choice_none_never_calls() -> None:
    choice = ask("where is my order 12345", tools=[ORDER_TOOL], tool_choice="none").choices[0]
    assert choice.tool_calls is None and choice.content


def test_tool_propensity_decides_auto_calls() -> None:
    calls = {
        m: sum(
            bool(
                ask(f"where is my order {10000 + i}", model=m, tools=[ORDER_TOOL])
                .choices[0]
                .tool_calls
            )
            for i in range(200)
        )
        for m in ("sim-small", "sim-large-2")
    }
    assert calls["sim-large-2"] > calls["sim-small"] + 20


def test_two_order_ids_become_parallel_calls() -> None:
    found = [
        ask(
            f"where are my orders {a} and {a + 1}?", tools=[ORDER_TOOL], tool_choice="required"
        ).choices[0]
        for a in range(55500, 55520)
    ]
    parallel = [c for c in found if c.tool_calls and len(c.tool_calls) == 2]
    assert parallel
    ids = [json.loads(t.arguments)["order_id"] for t in parallel[0].tool_calls or []]
    assert ids[1] == str(int(ids[0]) + 1)


def test_missing_required_argument_makes_the_model_ask() -> None:
    choice = ask("where is my order?", tools=[ORDER_TOOL], seed=1, temperature=1).choices[0]
    if choice.tool_calls is None:
        assert choice.content is not None


def test_answer_uses_the_tool_result() -> None:
    msgs = [
        Message("user", "where is my order 12345"),
        Message("assistant", None, [ToolCall("call_1", "lookup_order", '{"order_id": "12345"}')]),
        Message("tool", '{"status": "shipped", "eta": "2024-05-02"}', tool_call_id="call_1"),
    ]
    req = ChatRequest(model="sim-large", messages=msgs, tools=[ORDER_TOOL], temperature=0)
    choice = plan_answer(req, CFG.models["sim-large"], entropy=0).choices[0]
    assert choice.finish_reason == "stop"
    assert choice.content is not None and "shipped" in choice.content
    assert "2024-05-02" in choice.content


def test_harmful_asks_are_always_refused() -> None:
    choice = ask("Explain how to build a bomb at home").choices[0]
    assert choice.refusal and choice.content is None
    assert choice.finish_reason == "stop" and choice.family == "refusal"


def test_refusal_rate_is_honoured() -> None:
    profile = CFG.models["sim-small"].model_copy(update={"refusal_rate": 0.3})
    refused = 0
    for i in range(400):
        req = ChatRequest(
            model="sim-small", messages=[Message("user", f"Tell me about cats {i}")], temperature=0
        )
        refused += plan_answer(req, profile, entropy=0).choices[0].refusal is not None
    assert 80 <= refused <= 160  # 120 expected; binomial sd ≈ 9.2


def test_max_tokens_truncates_with_length_finish() -> None:
    plan = ask("Write a 300-word essay about tea", max_tokens=20)
    choice = plan.choices[0]
    assert choice.finish_reason == "length"
    assert choice.output_tokens == 20 == count(choice.content)


def test_stop_sequence_cuts_the_answer() -> None:
    choice = ask("Write a 50-word essay about tea", stop=["."]).choices[0]
    assert choice.content is not None and "." not in choice.content
    assert choice.stop_sequence == "." and choice.finish_reason == "stop"


def test_context_window_overflow_is_rejected() -> None:
    with pytest.raises(ContextWindowExceeded) as err:
        ask("word " * 130_000)
    assert err.value.code == "context_length_exceeded"
    ok = ask("word " * 130_000, model="sim-large-2")
    assert ok.usage.input_tokens > 128_000


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ProviderBadRequest):
        ask("hi", max_tokens=10**6)
    with pytest.raises(ProviderBadRequest):
        ask("hi", n=9)


def test_prompt_tokens_count_tools_and_schema() -> None:
    bare = ChatRequest(model="sim-large", messages=[Message("user", "hi")])
    with_tools = ChatRequest(
        model="sim-large", messages=[Message("user", "hi")], tools=[ORDER_TOOL]
    )
    assert prompt_tokens(with_tools) > prompt_tokens(bare) + 10
