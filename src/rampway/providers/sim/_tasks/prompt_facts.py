"""Facts a system prompt states ("knowledge base" bullets, "Returns: 30 days."), and which one a
customer question is about. Pure text work; `knowledge` decides how well a model uses them.

Two shapes are read, the ones support prompts use:

    - **Shipping**: standard delivery takes 2–4 business days (free over €50);
      express delivery takes 1 business day.          ← bullet "Topic: text" (+ indented lines)
    Be friendly. Returns: 30 days. Shipping: 2-4 business days.   ← inline "Topic: text."

Numbered steps ("1. Start every reply with …") and lower-case keys ("intent: <label>") are
instructions, not facts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rampway.providers.sim._tasks.classification import concepts

_BULLET = re.compile(
    r"^[ \t]*[-*•][ \t]+(?:\*\*|__)?([A-Za-z][^:*_`\n]{1,40}?)(?:\*\*|__)?[ \t]*:[ \t]*(.+)$")
_CONTINUATION = re.compile(r"^[ \t]{2,}(?![-*•]\s)(\S.*)$")
_INLINE = re.compile(r"(?:^|(?<=[.!?;]\s))([A-Z][A-Za-z]+(?: [A-Za-z]+){0,3}):[ \t]+"
                     r"([^\n]+?\S)\.(?=\s|$)")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[^\W_]+")
_STOP = frozenset({
    "a", "an", "the", "of", "to", "for", "in", "on", "by", "and", "or", "is", "are", "be", "do",
    "does", "did", "can", "could", "i", "my", "me", "you", "your", "we", "our", "it", "its",
    "this", "that", "what", "when", "where", "how", "which", "who", "will", "would", "with",
    "have", "has", "get", "still", "there", "any", "if", "at", "as", "from", "about", "please",
})
_NOT_FACTS = frozenset({"example", "examples", "note", "input", "output", "user", "assistant",
                        "question", "answer", "format", "rules", "instructions", "task"})


@dataclass(frozen=True, slots=True)
class PromptFact:
    """One fact of the prompt's knowledge: a topic ("Returns") and what it says."""

    topic: str
    text: str

    def sentences(self) -> list[str]:
        """The fact as answer sentences; a fragment ("30 days from …") gets its topic as subject."""
        parts = _SENTENCE_END.split(self.text)
        first = parts[0]
        if not first[:1].isupper():
            first = f"{self.topic}: {first}"
        return [_end(s) for s in [first, *parts[1:]]]


def _end(sentence: str) -> str:
    sentence = sentence.strip()
    return sentence if sentence[-1:] in ".!?" else sentence + "."


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("**", "").replace("__", "").replace("`", "")).strip()


def _bullets(lines: list[str]) -> tuple[list[PromptFact], set[int]]:
    facts: list[PromptFact] = []
    used: set[int] = set()
    for i, line in enumerate(lines):
        match = _BULLET.match(line)
        if match is None or match.group(1).strip().lower() in _NOT_FACTS:
            continue
        text = [match.group(2)]
        used.add(i)
        for j in range(i + 1, len(lines)):
            more = _CONTINUATION.match(lines[j])
            if more is None:
                break
            text.append(more.group(1))
            used.add(j)
        facts.append(PromptFact(_clean(match.group(1)), _clean(" ".join(text))))
    return facts, used


@functools.lru_cache(maxsize=256)
def prompt_facts(system: str) -> tuple[PromptFact, ...]:
    """Every fact the system prompt states, bullets first, in order (cached: a release's
    system prompt is the same on every call)."""
    lines = system.splitlines()
    facts, used = _bullets(lines)
    for i, line in enumerate(lines):
        if i in used or _NUMBERED.match(line):
            continue
        facts.extend(PromptFact(_clean(m.group(1)), _clean(m.group(2)))
                     for m in _INLINE.finditer(line)
                     if m.group(1).lower() not in _NOT_FACTS)
    return tuple(facts)


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.casefold()) if w not in _STOP and len(w) > 2]


def _same(a: str, b: str) -> bool:
    """Words that share a stem: ship/shipping, refund/refunds, charged/charges."""
    if a[0] != b[0]:
        return False
    n = min(len(a), len(b))
    stem = max(4, n - 2) if n > 4 else n
    return a[:stem] == b[:stem] and n >= 4 or a == b


@dataclass(frozen=True, slots=True)
class _Terms:
    """What matching needs of a text, computed once per distinct text."""

    words: tuple[str, ...]
    concepts: frozenset[str]


@functools.lru_cache(maxsize=4096)
def _terms(text: str) -> _Terms:
    return _Terms(tuple(dict.fromkeys(_words(text))), frozenset(concepts(text)))


def relevance(question: str, fact: PromptFact) -> float:
    """How much `question` is about `fact`: 4 × the share of the topic's words it names, 0.75
    per other word of the fact it uses, and per support concept they share (parcel ~ delivery) 2
    when the topic names it, 0.75 when only the text does."""
    asked, topic, text = _terms(question), _terms(fact.topic), _terms(fact.text)
    score = 0.0
    for word in asked.words:
        if any(_same(word, t) for t in topic.words):
            score += 4.0 / len(topic.words)
        elif any(_same(word, t) for t in text.words):
            score += 0.75
    by_topic = asked.concepts & topic.concepts
    by_text = (asked.concepts & text.concepts) - by_topic
    return score + 2.0 * len(by_topic) + 0.75 * len(by_text)


def find_prompt_fact(question: str, facts: Sequence[PromptFact]) -> PromptFact | None:
    """The fact the question is about (relevance ≥ 2, first wins a tie), or None."""
    best: tuple[float, PromptFact] | None = None
    for fact in facts:
        score = relevance(question, fact)
        if score >= 2 and (best is None or score > best[0]):
            best = (score, fact)
    return best[1] if best else None


__all__ = ["PromptFact", "find_prompt_fact", "prompt_facts", "relevance"]
