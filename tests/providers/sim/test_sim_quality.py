"""Prompt and model sensitivity, measured over generated cases with known answers.

At temperature 0 the sim is deterministic, so these margins are fixed numbers, not flaky
statistics; they are asserted with room so that small model tweaks don't break them.
"""

from __future__ import annotations

import json

from sim_cases import (
    INVOICE_SCHEMA,
    arithmetic_cases,
    classification_cases,
    extraction_cases,
    extraction_correct,
    last_number,
)

from rampway.providers.sim import load_sim_config
from rampway.providers.sim._engine import Choice, plan_answer
from rampway.providers.types import ChatRequest, Message

CFG = load_sim_config()
N = 200
MATH_SYSTEM = (
    "You are a careful math tutor. Solve the arithmetic word problem. "
    "Think step by step, then state the final number."
)
EXTRACT_SYSTEM = "You extract structured fields from invoices and return JSON only."
TRIAGE_SYSTEM = "You are a support triage assistant. Classify each customer message by intent."
LABEL_INSTRUCTION = (
    "Classify into: billing, shipping, returns, account, other. "
    "Answer with only the label.\nMessage: "
)
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "invoice", "schema": INVOICE_SCHEMA, "strict": True},
}


def run(model: str, user: str, system: str | None = None, **kw: object) -> Choice:
    msgs = ([Message("system", system)] if system else []) + [Message("user", user)]
    req = ChatRequest(model=model, messages=msgs, temperature=0, **kw)  # type: ignore[arg-type]
    return plan_answer(req, CFG.models[model], entropy=0).choices[0]


def arithmetic_accuracy(model: str, system: str | None) -> float:
    cases = arithmetic_cases(N)
    return sum(last_number(run(model, q, system).content) == a for q, a in cases) / N


def extraction_accuracy(model: str, system: str | None, schema: bool) -> float:
    ask = "Extract vendor, invoice_number, total, currency and due_date as JSON:\n"
    kw = {"response_format": SCHEMA_FORMAT} if schema else {}
    return (
        sum(
            extraction_correct(run(model, ask + text, system, **kw).content, expected)
            for text, expected in extraction_cases(N)
        )
        / N
    )


def classification_accuracy(model: str, system: str | None) -> float:
    return (
        sum(
            (run(model, LABEL_INSTRUCTION + msg, system).content or "").strip() == label
            for msg, label in classification_cases(N)
        )
        / N
    )


def test_large_beats_small_on_every_task_family() -> None:
    for task in (
        lambda m: arithmetic_accuracy(m, None),
        lambda m: extraction_accuracy(m, None, schema=False),
        lambda m: classification_accuracy(m, None),
    ):
        large, small = task("sim-large"), task("sim-small")
        assert large - small >= 0.15, (large, small)


def test_a_good_system_prompt_beats_none() -> None:
    for model in ("sim-large", "sim-small"):
        assert arithmetic_accuracy(model, MATH_SYSTEM) - arithmetic_accuracy(model, None) >= 0.1
        assert (
            extraction_accuracy(model, EXTRACT_SYSTEM, schema=True)
            - extraction_accuracy(model, None, schema=False)
        ) >= 0.1
        assert (
            classification_accuracy(model, TRIAGE_SYSTEM) - classification_accuracy(model, None)
        ) >= 0.05


def test_better_prompt_never_breaks_a_case_that_worked() -> None:
    """Correctness draws are shared across prompts (common random numbers)."""
    for q, a in arithmetic_cases(100):
        if last_number(run("sim-small", q).content) == a:
            assert last_number(run("sim-small", q, MATH_SYSTEM).content) == a


def test_minor_version_bump_is_as_accurate_but_more_verbose() -> None:
    assert (
        abs(arithmetic_accuracy("sim-large-2", None) - arithmetic_accuracy("sim-large", None))
        <= 0.08
    )
    cases = arithmetic_cases(100)
    tokens = {
        m: sum(run(m, q).output_tokens for q, _ in cases) for m in ("sim-large", "sim-large-2")
    }
    assert tokens["sim-large-2"] > 1.25 * tokens["sim-large"]
    friendly = sum(
        "😊" in (run("sim-large-2", q).content or "")
        or "🙌" in (run("sim-large-2", q).content or "")
        for q, _ in cases
    )
    assert friendly >= 20
    assert all("😊" not in (run("sim-large", q).content or "") for q, _ in cases)


def test_minor_version_bump_breaks_json_more_often() -> None:
    def invalid(model: str) -> int:
        bad = 0
        for text, _ in extraction_cases(400):
            content = run(
                model,
                "Extract the invoice fields as JSON:\n" + text,
                response_format={"type": "json_object"},
            ).content
            try:
                json.loads(content or "")
            except ValueError:
                bad += 1
        return bad

    assert invalid("sim-large-2") > invalid("sim-large")


def test_answer_only_instruction_hurts_arithmetic_without_reasoning() -> None:
    terse = "Answer with only the number."
    bare = arithmetic_accuracy("sim-small", None)
    only = (
        sum(last_number(run("sim-small", q, terse).content) == a for q, a in arithmetic_cases(N))
        / N
    )
    assert only < bare
