"""FAQ answers from the facts in the prompt (the example support-bot's knowledge base) or the
bundled knowledge base; a support prompt that wants an `intent:` line gets it, then the answer."""

from __future__ import annotations

import re
from pathlib import Path

from rampway.providers.sim import load_sim_config
from rampway.providers.sim._engine import Choice, plan_answer
from rampway.providers.sim._tasks.prompt_facts import find_prompt_fact, prompt_facts
from rampway.providers.types import ChatRequest, Message
from rampway.release import load_release

CFG = load_sim_config()
RELEASE = Path(__file__).resolve().parents[3] / "examples/support-bot/releases/support-bot"
# Questions the example prompt's knowledge base answers, with the fact a right answer states.
COVERED = {
    "How long do I have to return an item?": "30 days",
    "Where do I find the return label?": "free return label",
    "When will I get my refund for the returned toaster?": "5 business days",
    "How long does standard delivery take?": "2–4 business days",
    "Do you have express delivery?": "1 business day",
    "How much is shipping for a €30 order?": "€4.90",
    "I was charged twice for the same purchase": "3 business days",
    "Why do I see two charges on my card?": "pre-authorisation",
    "How do I reset my password?": "sign-in page",
    "Can I still change my order?": "until the order is packed",
    "How much does the Plus membership cost?": "€4.99/month",
    "My mug arrived damaged, what should I do?": "photo within 14 days",
}


def system_prompt() -> str:
    messages = load_release(RELEASE).render({"customer_name": "Ada"}, user_message="x")
    assert messages[0].role == "system"
    return messages[0].content or ""


SYSTEM = system_prompt()
NO_KNOWLEDGE = SYSTEM.split("## Knowledge base")[0]


def reply(question: str, model: str = "sim-large", system: str = SYSTEM, seed: int = 0,
          temperature: float = 0.0) -> Choice:
    msgs = [Message("system", system), Message("user", question)]
    req = ChatRequest(model=model, messages=msgs, temperature=temperature, seed=seed)
    return plan_answer(req, CFG.models[model], entropy=0).choices[0]


def test_the_example_prompts_knowledge_base_is_read_fact_by_fact() -> None:
    facts = prompt_facts(SYSTEM)
    assert [f.topic for f in facts] == ["Shipping", "Changing an order", "Returns",
                                        "Damaged items", "Double charges", "Account",
                                        "Membership"]
    shipping = facts[0]
    assert shipping.text.startswith("standard delivery takes 2–4 business days")
    assert shipping.text.endswith("(€9.90, order before 14:00).")  # the indented line joined
    assert shipping.sentences()[0].startswith("Shipping: standard delivery")
    assert all("intent" not in f.topic.lower() for f in facts)  # instructions are not facts


def test_inline_facts_are_read_and_numbered_steps_are_not() -> None:
    facts = prompt_facts("You are Ava. Be brief. Returns: 30 days. Shipping: 2-4 business days "
                         "(€4.90).\n1. Start with: a greeting.\nExample: hi -> hello.")
    assert [(f.topic, f.text) for f in facts] == [
        ("Returns", "30 days"), ("Shipping", "2-4 business days (€4.90)")]


def test_questions_find_the_fact_they_are_about() -> None:
    facts = prompt_facts(SYSTEM)
    topic = {q: (f.topic if (f := find_prompt_fact(q, facts)) else None) for q in (
        "When will my parcel arrive?", "How long do I have to return an item?",
        "My credit card was charged twice", "I cannot log in to my account",
        "Are you hiring?")}
    assert topic == {"When will my parcel arrive?": "Shipping",
                     "How long do I have to return an item?": "Returns",
                     "My credit card was charged twice": "Double charges",
                     "I cannot log in to my account": "Account",
                     "Are you hiring?": None}


def test_the_support_bot_labels_the_intent_then_answers_from_its_knowledge_base() -> None:
    choice = reply("How long do I have to return an item?")
    assert choice.family == "faq" and choice.content is not None
    first, body = choice.content.split("\n", 1)
    assert first == "intent: returns"
    assert "30 days from delivery" in body and choice.correct
    shipping = reply("How long does standard delivery take?").content or ""
    assert shipping.startswith("intent: shipping\n") and "2–4 business days" in shipping


def _right(model: str, system: str, seeds: range) -> float:
    hits = [fact in (reply(q, model, system, s, temperature=1.0).content or "")
            for q, fact in COVERED.items() for s in seeds]
    return sum(hits) / len(hits)


def test_knowledge_in_the_prompt_and_a_bigger_model_answer_more_questions_right() -> None:
    seeds = range(12)
    large, small = _right("sim-large", SYSTEM, seeds), _right("sim-small", SYSTEM, seeds)
    without = _right("sim-large", NO_KNOWLEDGE, seeds)
    assert large >= 0.85 and large > small + 0.03
    assert without <= 0.1  # the bundled (generic) knowledge does not know ACME's policies


def test_a_wrong_answer_states_generic_or_misremembered_policy() -> None:
    system = "You are Ava from ACME Shop, be friendly. Shipping: 2–4 business days."
    wrong = [c.content or "" for s in range(80)
             if not (c := reply("How long does standard delivery take?", "sim-small", system,
                                seed=s, temperature=1.0)).correct]
    assert wrong
    assert all("2–4 business days" not in w for w in wrong)
    assert any("3-5 business days" in w for w in wrong)  # the bundled KB's US shipping time


def test_answers_keep_to_the_prompts_sentence_budget() -> None:
    for s in range(20):
        text = reply("How long do I have to return an item?", "sim-large-2", seed=s,
                     temperature=1.0).content or ""
        body = text.split("\n", 1)[1]
        assert len(re.findall(r"[.!?](?:\s|$)", body)) <= 4, body  # "at most 4 sentences"


def test_asking_to_classify_gets_only_the_label() -> None:
    choice = reply("Classify this message: I want to return my kettle")
    assert choice.family == "classification"
    assert choice.content is not None and "30 days" not in choice.content
    triage = "You are a support triage assistant. Classify each customer message by intent."
    label_only = reply("I want to return my kettle", system=triage)
    assert label_only.family == "classification"


def test_uncovered_questions_get_the_label_alone() -> None:
    choice = reply("Is the cast iron pan dishwasher safe?")
    assert choice.family == "classification"
    assert choice.content is not None and not choice.content.startswith("intent:")


def test_a_prompt_without_a_label_line_answers_from_its_inline_facts() -> None:
    system = ("You are Ava from ACME Shop. Be brief and friendly; look up orders with the "
              "lookup_order tool. Returns: 30 days. Shipping: 2-4 business days.")
    choice = reply("How long do I have to return an item?", system=system)
    assert choice.family == "faq" and choice.correct
    assert choice.content is not None and "Returns: 30 days." in choice.content
