"""FAQ answers and short factual questions from the bundled `knowledge_base.yaml`.

An FAQ entry is found by keyword overlap with the user's question. A correct answer states the
entry's `key_fact`; a wrong one states its `wrong_fact` (an outdated policy, the classic support
bot failure). Pasting the policy text into the prompt (RAG-style) helps a lot: +1.5 logit.
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


def answer_faq(ctx: Ctx, entry: FaqEntry) -> TaskResult:
    grounded = entry.key_fact.lower() in ctx.features.system.lower()
    correct = ctx.draw_correct("faq", -1.5 if grounded else 0.0)
    text = entry.answer if correct else entry.answer.replace(entry.key_fact, entry.wrong_fact)
    answer = Answer(
        core=entry.key_fact if correct else entry.wrong_fact,
        sentence=text,
        extras=["You can find more details in our Help Center.",
                "If anything is unclear, our support team is happy to assist."],
    )
    return TaskResult("faq", content=render(answer, ctx.features, ctx.profile, ctx.style_rng),
                      correct=correct)


def answer_fact(ctx: Ctx, fact: Fact) -> TaskResult:
    correct = ctx.draw_correct("factual")
    value = fact.answer if correct else fact.wrong
    answer = Answer(core=value, sentence=f"The answer is {value}.",
                    extras=["This is a well-established fact.",
                            "You can verify it in any standard reference."])
    return TaskResult("factual", content=render(answer, ctx.features, ctx.profile, ctx.style_rng),
                      correct=correct)


__all__ = ["Fact", "FaqEntry", "answer_fact", "answer_faq", "find_fact", "find_faq",
           "knowledge_base"]
