"""Task families the simulated models solve: arithmetic, extraction, classification, FAQ,
factual questions, tool use and a chat fallback. `dispatch` picks the family for a turn."""

from __future__ import annotations

import re

from rampway.providers.sim._tasks import arithmetic, classification, extraction, knowledge, tools
from rampway.providers.sim._tasks._context import Ctx, TaskResult, p_correct
from rampway.providers.sim._tasks.chat import chat

_HARMFUL = re.compile(
    r"\b(make|build|synthesi[sz]e|create|assemble|cook|write)\b.{0,40}\b(bomb|explosives?"
    r"|nerve agent|bioweapon|chemical weapon|meth(amphetamine)?|ransomware|malware|keylogger)\b"
    r"|\bkill (someone|a person|people|my (neighbou?r|boss|wife|husband))\b"
    r"|\bsteal (a|someone'?s|credit card)\b|\bchild (sexual|porn)",
    re.I | re.S,
)
REFUSAL_TEXT = "I'm sorry, but I can't help with that."


def is_harmful(text: str) -> bool:
    """Asks every model refuses, whatever its configured refusal rate."""
    return bool(_HARMFUL.search(text))


def dispatch(ctx: Ctx) -> TaskResult:
    """Answer one turn. The order matters: safety, tool results, refusals, tools, then tasks."""
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
        return classification.classify(ctx)
    if extraction.is_extraction(ctx):
        return extraction.solve(ctx)
    problem = arithmetic.parse(ctx.features.user)
    if problem is not None:
        return arithmetic.solve(ctx, problem)
    fact = knowledge.find_fact(ctx.features.user)
    if fact is not None:
        return knowledge.answer_fact(ctx, fact)
    entry = knowledge.find_faq(ctx.features.user)
    if entry is not None:
        return knowledge.answer_faq(ctx, entry)
    return chat(ctx)


__all__ = ["REFUSAL_TEXT", "Ctx", "TaskResult", "dispatch", "is_harmful", "p_correct"]
