"""What the simulated model "notices" about a prompt, and how much each feature helps.

A simulated answer is correct with probability `sigmoid(logit(quality) + skill + bonus -
difficulty)`. The bonus comes from prompt features, so prompt work pays off the way it does
with real models. Logit bonuses (documented in the README):

| feature                                   | arith | extract | classify | faq | factual |
|-------------------------------------------|-------|---------|----------|-----|---------|
| any system prompt                         | +0.25 | +0.25   | +0.25    |+0.25| +0.25   |
| system prompt specific to the task        | +0.6  | +0.6    | +0.6     |+0.6 | +0.3    |
| "think step by step" / "show your work"   | +0.8  | +0.1    | +0.2     |+0.1 | +0.2    |
| "answer with only …" without step-by-step | -0.3  | +0.2    | +0.2     |  0  | +0.1    |
| few-shot examples (prior turns/Example:)  | +0.5  | +0.5    | +0.5     |+0.3 | +0.3    |
| JSON schema given (response_format)       |       | +0.7    |          |     |         |
| "return JSON" asked, no schema            |       | +0.2    |          |     |         |
| candidate labels listed in the prompt     |       |         | +0.4     |     |         |
| the relevant FAQ text pasted in the prompt|       |         |          |+1.5 |         |
| temperature above 0.7 (per 1.0)           | -0.5  | -0.5    | -0.5     |-0.5 | -0.5    |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rampway.providers.types import ChatRequest, Message

_STEP = re.compile(
    r"step[- ]by[- ]step|show (your|the) (work|reasoning|steps)|think (carefully|it through)"
    r"|reason (through|carefully)|explain your reasoning",
    re.I,
)
_TERSE = re.compile(
    r"(answer|respond|reply|output|return)( \w+)? with only"
    r"|only (output|return|answer|reply|respond|give"
    r"|the (number|label|answer|word|category|intent|value))|just the (number|answer|label"
    r"|word|category)|one word|single word|no explanation|without explanation|be (very )?concise"
    r"|nothing else|answer in (one|a single)",
    re.I,
)
_ONE_WORD = re.compile(r"\b(one|single|1)[- ]word\b", re.I)
_MAX_WORDS = re.compile(r"\b(?:at most|under|no more than|fewer than|max(?:imum)?(?: of)?)\s+(\d+)"
                        r"\s+words\b", re.I)
_EXAMPLES = re.compile(r"\bexamples?\s*\d*\s*:|\bQ:.*\bA:|\bInput:.*\bOutput:|=>|->", re.I | re.S)
_JSON = re.compile(r"\bjson\b", re.I)

FAMILY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "arithmetic": ("math", "arithmetic", "calculat", "number", "comput", "word problem", "tutor"),
    "extraction": ("extract", "json", "field", "invoice", "parse", "structured"),
    "classification": ("classif", "intent", "label", "categor", "route", "triage"),
    "faq": ("support", "customer", "policy", "faq", "help desk", "store", "agent"),
    "factual": ("fact", "trivia", "knowledge", "accurate", "geography", "question"),
    "judge": ("grade", "grading", "grader", "judge", "evaluat", "rubric", "assess"),
}


@dataclass(slots=True)
class PromptFeatures:
    """Facts about the request that change how well, and how tersely, the model answers."""

    system: str = ""
    user: str = ""
    step_by_step: bool = False
    terse: bool = False
    one_word: bool = False
    max_words: int | None = None
    few_shot: bool = False
    json_requested: bool = False
    schema: dict[str, Any] | None = None
    schema_strict: bool = False
    temperature: float = 1.0
    history: list[Message] = field(default_factory=list)

    @property
    def has_system(self) -> bool:
        return bool(self.system.strip())

    def system_specific_to(self, family: str) -> bool:
        """A system prompt of some substance that names the task, not "You are helpful."."""
        if len(self.system) < 40:
            return False
        low = self.system.lower()
        return any(word in low for word in FAMILY_KEYWORDS.get(family, ()))


def _last_user_index(messages: list[Message]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return i
    return -1


def _schema_of(response_format: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    if not response_format or response_format.get("type") != "json_schema":
        return None, False
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") if isinstance(spec, dict) else None
    strict = bool(spec.get("strict")) if isinstance(spec, dict) else False
    return (schema if isinstance(schema, dict) else None), strict


def extract_features(request: ChatRequest) -> PromptFeatures:
    """Read the prompt once; every task family consults the result."""
    messages = request.messages
    system = "\n".join(m.content or "" for m in messages if m.role == "system")
    idx = _last_user_index(messages)
    user = (messages[idx].content or "") if idx >= 0 else ""
    history = [m for m in messages[: max(idx, 0)] if m.role in ("user", "assistant")]
    instructions = f"{system}\n{user}"
    schema, strict = _schema_of(request.response_format)
    rf_type = (request.response_format or {}).get("type")
    max_words = _MAX_WORDS.search(instructions)
    temperature = 1.0 if request.temperature is None else request.temperature
    return PromptFeatures(
        system=system,
        user=user,
        step_by_step=bool(_STEP.search(instructions)),
        terse=bool(_TERSE.search(instructions)),
        one_word=bool(_ONE_WORD.search(instructions)),
        max_words=int(max_words.group(1)) if max_words else None,
        few_shot=any(m.role == "assistant" and m.content for m in history)
        or bool(_EXAMPLES.search(system)),
        json_requested=rf_type in ("json_object", "json_schema")
        or bool(_JSON.search(instructions)),
        schema=schema,
        schema_strict=strict,
        temperature=temperature,
        history=history,
    )


_STEP_BONUS = {"arithmetic": 0.8, "extraction": 0.1, "classification": 0.2, "faq": 0.1}
_TERSE_BONUS = {"arithmetic": -0.3, "extraction": 0.2, "classification": 0.2, "factual": 0.1}
_FEW_SHOT_BONUS = {"arithmetic": 0.5, "extraction": 0.5, "classification": 0.5}


def prompt_bonus(family: str, f: PromptFeatures) -> float:
    """Logit bonus the prompt earns for `family` (table in the module docstring)."""
    bonus = 0.0
    if f.has_system:
        bonus += 0.25
        if f.system_specific_to(family):
            bonus += 0.3 if family == "factual" else 0.6
    if f.step_by_step:
        bonus += _STEP_BONUS.get(family, 0.2)
    elif f.terse:
        bonus += _TERSE_BONUS.get(family, 0.0)
    if f.step_by_step and f.terse and family != "arithmetic":
        bonus += _TERSE_BONUS.get(family, 0.0)
    if f.few_shot:
        bonus += _FEW_SHOT_BONUS.get(family, 0.3)
    if family == "extraction":
        bonus += 0.7 if f.schema else (0.2 if f.json_requested else 0.0)
    bonus -= 0.5 * max(0.0, f.temperature - 0.7)
    return bonus


__all__ = ["FAMILY_KEYWORDS", "PromptFeatures", "extract_features", "prompt_bonus"]
