"""Task families the simulated models solve: arithmetic, extraction, classification, FAQ
(from the prompt's knowledge base or the bundled one; after an `intent:` line when a support
prompt asks for one), factual questions, tool use, grading (LLM-as-judge) and a chat fallback.
`dispatch` picks the family for a turn."""

from __future__ import annotations

from rampway.providers.sim._tasks import (
    arithmetic,
    classification,
    extraction,
    judge,
    knowledge,
    support,
    tools,
)
from rampway.providers.sim._tasks._context import Ctx, TaskResult, p_correct
from rampway.providers.sim._tasks._safety import REFUSAL_TEXT, is_harmful
from rampway.providers.sim._tasks.chat import chat


def dispatch(ctx: Ctx) -> TaskResult:
    """Answer one turn. The order matters: grading, safety, tool results, refusals, tools, then
    tasks. A grading ask comes first because the answer it grades may quote a harmful question
    (a refusal case): the judge grades it rather than refusing."""
    ask = judge.find_ask(ctx)
    if ask is not None:
        return judge.grade(ctx, ask)
    user = ctx.features.user
    if is_harmful(user):
        return TaskResult("refusal", refusal=REFUSAL_TEXT)
    results = tools.pending_tool_results(ctx.request.messages)
    if results is not None:
        return tools.answer_from_tools(ctx, results)
    if ctx.case_rng.random() < ctx.profile.refusal_rate:
        return TaskResult("refusal", refusal=REFUSAL_TEXT)
    called = tools.plan_tool_calls(ctx)
    if called is not None:
        return called
    return _solve_task(ctx)


def _solve_task(ctx: Ctx) -> TaskResult:
    if classification.is_classification(ctx):
        key = support.label_line_key(ctx)
        if key is not None:
            return support.label_and_answer(ctx, key)
        return classification.classify(ctx)
    if extraction.is_extraction(ctx):
        return extraction.solve(ctx)
    problem = arithmetic.parse(ctx.features.user)
    if problem is not None:
        return arithmetic.solve(ctx, problem)
    fact = knowledge.find_fact(ctx.features.user)
    if fact is not None:
        return knowledge.answer_fact(ctx, fact)
    reply = knowledge.faq_reply(ctx)
    if reply is not None:
        return reply
    return chat(ctx)


__all__ = ["REFUSAL_TEXT", "Ctx", "TaskResult", "dispatch", "is_harmful", "p_correct"]
