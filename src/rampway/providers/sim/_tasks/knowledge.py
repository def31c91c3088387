"""FAQ answers, from the facts in the system prompt or the bundled `knowledge_base.yaml`, and
short factual questions.

When the system prompt states facts (a "knowledge base" of `- **Topic**: text` bullets, or
"Returns: 30 days."), the question is answered from the fact it is about (`prompt_facts`), and
being grounded helps a lot: +1.5 logit. A wrong grounded answer is the classic support-bot
failure: the model's generic knowledge wins over the prompt (the bundled entry on the same
topic), a number is misremembered, or the entry's outdated policy is stated.

Otherwise a bundled FAQ entry is found by keyword overlap with the question. A correct answer
states the entry's `key_fact`; a wrong one states its `wrong_fact`; the policy text pasted in
the prompt (the key fact appears there) helps just as much.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

from rampway.errors import ConfigError
from rampway.providers.sim._style import Answer, render
from rampway.providers.sim._tasks._context import Ctx, TaskResult
from rampway.providers.sim._tasks.prompt_facts import (
    PromptFact,
    find_prompt_fact,
    prompt_facts,
    relevance,
)

_EXTRAS = ("You can find more details in our Help Center.",
           "If anything is unclear, our support team is happy to assist.")
_NUMBER = re.compile(r"(?<![\d.,])\d+(?![\d.,]\d)")
_MAX_SENTENCES = re.compile(r"\b(?:at most|no more than|max(?:imum)?(?: of)?|up to)\s+"
                            r"(\d+|one|two|three|four|five|six)\s+sentences\b", re.I)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    keywords: tuple[str, ...]
    answer: str
    key_fact: str
    wrong_fact: str


@dataclass(frozen=True, slots=True)
class Fact:
    keywords: tuple[str, ...]
    answer: str
    wrong: str


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    faq: tuple[FaqEntry, ...]
    facts: tuple[Fact, ...]


@functools.cache
def knowledge_base() -> KnowledgeBase:
    """The bundled knowledge base, parsed once per process."""
    package = __package__.rsplit(".", 1)[0]
    text = resources.files(package).joinpath("knowledge_base.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    try:
        faq = tuple(FaqEntry(e["id"], tuple(e["keywords"]), e["answer"], e["key_fact"],
                             e["wrong_fact"]) for e in data["faq"])
        facts = tuple(Fact(tuple(f["keywords"]), str(f["answer"]), str(f["wrong"]))
                      for f in data["facts"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"knowledge_base.yaml: malformed entry: {exc}") from exc
    return KnowledgeBase(faq, facts)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9$%]+", text.lower())) + " "


def find_faq(text: str) -> FaqEntry | None:
    """The FAQ entry whose keywords best match `text` (multi-word keywords count double)."""
    hay = _words(text)
    best: tuple[int, FaqEntry] | None = None
    for entry in knowledge_base().faq:
        score = sum(2 if " " in k else 1 for k in entry.keywords if f" {k} " in hay)
        if score and (best is None or score > best[0]):
            best = (score, entry)
    return best[1] if best else None


def find_fact(text: str) -> Fact | None:
    """The fact all of whose keywords (as word prefixes) occur in `text`."""
    hay = _words(text)
    for fact in knowledge_base().facts:
        if all(f" {k}" in hay for k in fact.keywords):
            return fact
    return None


def _bundled_answer(ctx: Ctx, entry: FaqEntry) -> tuple[Answer, bool]:
    grounded = entry.key_fact.lower() in ctx.features.system.lower()
    correct = ctx.draw_correct("faq", -1.5 if grounded else 0.0)
    text = entry.answer if correct else entry.answer.replace(entry.key_fact, entry.wrong_fact)
    answer = Answer(core=entry.key_fact if correct else entry.wrong_fact, sentence=text,
                    extras=list(_EXTRAS))
    return answer, correct


def _misremembered_number(sentence: str) -> str | None:
    """The sentence with its first number changed (30 → 15, 2 → 4), or None if it has none."""
    match = _NUMBER.search(sentence)
    if match is None:
        return None
    n = int(match.group(0))
    wrong = n * 2 if n <= 5 else n // 2
    return sentence[:match.start()] + str(wrong) + sentence[match.end():]


def _wrong_grounded(fact: PromptFact, entry: FaqEntry | None) -> str:
    """What a model that misuses the prompt's fact says instead."""
    first = fact.sentences()[0]
    if entry is not None and relevance(" ".join(entry.keywords), fact) >= 2:
        if entry.key_fact.lower() not in fact.text.lower():
            return entry.answer  # generic knowledge wins over the prompt
        pattern = re.compile(re.escape(entry.key_fact), re.I)
        return pattern.sub(entry.wrong_fact, first, count=1)
    changed = _misremembered_number(first)
    return changed if changed is not None else (
        f"I'm not certain about {fact.topic.lower()}; please check our Help Center.")


def _grounded_answer(ctx: Ctx, fact: PromptFact, entry: FaqEntry | None) -> tuple[Answer, bool]:
    correct = ctx.draw_correct("faq", -1.5)
    sentences = fact.sentences()
    said = sentences[0] if correct else _wrong_grounded(fact, entry)
    answer = Answer(core=said, sentence=said, extras=[*sentences[1:], *_EXTRAS])
    return answer, correct


def _prompt_fact_for(ctx: Ctx, entry: FaqEntry | None) -> PromptFact | None:
    facts = prompt_facts(ctx.features.system)
    if not facts:
        return None
    fact = find_prompt_fact(ctx.features.user, facts)
    if fact is None and entry is not None:
        key = entry.key_fact.lower()
        fact = next((f for f in facts if key in f.text.lower()), None)
    return fact


def faq_answer(ctx: Ctx) -> tuple[Answer, bool] | None:
    """(answer, correct) to the user's question from the prompt's facts or the bundled FAQ, or
    None when neither covers it. Draws from `case_rng` only (never `style_rng`)."""
    entry = find_faq(ctx.features.user)
    fact = _prompt_fact_for(ctx, entry)
    if fact is not None:
        return _grounded_answer(ctx, fact, entry)
    if entry is not None:
        return _bundled_answer(ctx, entry)
    return None


def max_sentences(ctx: Ctx) -> int | None:
    """The prompt's "at most N sentences", if it sets one."""
    found = _MAX_SENTENCES.search(f"{ctx.features.system}\n{ctx.features.user}")
    if found is None:
        return None
    word = found.group(1).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def render_faq(ctx: Ctx, answer: Answer) -> str:
    """The answer in the model's style, cut to the prompt's sentence budget."""
    text = render(answer, ctx.features, ctx.profile, ctx.style_rng)
    budget = max_sentences(ctx)
    if budget is None:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(sentences[:max(1, budget)])


def faq_reply(ctx: Ctx) -> TaskResult | None:
    """An FAQ answer for this turn, or None when no knowledge covers the question."""
    found = faq_answer(ctx)
    if found is None:
        return None
    answer, correct = found
    return TaskResult("faq", content=render_faq(ctx, answer), correct=correct)


def answer_fact(ctx: Ctx, fact: Fact) -> TaskResult:
    correct = ctx.draw_correct("factual")
    value = fact.answer if correct else fact.wrong
    answer = Answer(core=value, sentence=f"The answer is {value}.",
                    extras=["This is a well-established fact.",
                            "You can verify it in any standard reference."])
    return TaskResult("factual", content=render(answer, ctx.features, ctx.profile, ctx.style_rng),
                      correct=correct)


__all__ = ["Fact", "FaqEntry", "answer_fact", "faq_answer", "faq_reply", "find_fact", "find_faq",
           "knowledge_base", "max_sentences", "render_faq"]
