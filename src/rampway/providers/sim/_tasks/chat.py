"""The generic chat fallback: greetings, "write N words", and a short answer on a topic.

Text is assembled from a fixed sentence pool seeded by the conversation, so it is
deterministic, grows with verbosity and with an explicit length ask ("write 300 words").
"""

from __future__ import annotations

import re

from rampway.providers.sim._style import Answer, render
from rampway.providers.sim._tasks._context import Ctx, TaskResult

_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|greetings)\b", re.I)
_LENGTH = re.compile(r"\b(\d{1,5})[- ]words?\b", re.I)
_STOP = frozenset({
    "about", "what", "which", "would", "could", "should", "there", "their", "these", "those",
    "where", "when", "please", "tell", "write", "explain", "describe", "give", "some", "with",
    "from", "have", "your", "that", "this", "into", "does",
})
_POOL = (
    "{topic} is a subject with several sides worth considering.",
    "A common starting point is to look at how {topic} works in practice.",
    "Many people find that concrete examples make {topic} easier to grasp.",
    "It also helps to compare {topic} with related ideas.",
    "The details depend on context, so the trade-offs matter.",
    "Experts often stress trying things out on a small scale first.",
    "Clear goals make it easier to judge what good looks like.",
    "Over time, small improvements tend to add up.",
    "Keeping notes of what worked makes the next attempt faster.",
    "In short, {topic} rewards patience and curiosity.",
)


def topic_of(text: str) -> str:
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", text) if w.lower() not in _STOP]
    return " ".join(words[:3]).lower() or "this topic"


def _essay(ctx: Ctx, n_words: int, topic: str) -> str:
    out: list[str] = []
    count = 0
    while count < n_words:
        sentence = ctx.style_rng.choice(_POOL).format(topic=topic)
        sentence = sentence[0].upper() + sentence[1:]
        out.append(sentence)
        count += len(sentence.split())
    words = " ".join(out).split()[:n_words]
    return " ".join(words)


def chat(ctx: Ctx) -> TaskResult:
    user = ctx.features.user
    if _GREETING.search(user) and len(user.split()) <= 6:
        answer = Answer(core="Hello!", sentence="Hello! How can I help you today?")
        return TaskResult("chat", content=render(answer, ctx.features, ctx.profile,
                                                 ctx.style_rng))
    topic = topic_of(user)
    length = _LENGTH.search(user)
    if length:
        return TaskResult("chat", content=_essay(ctx, min(int(length.group(1)), 20_000), topic))
    pool = [s.format(topic=topic) for s in _POOL]
    ctx.style_rng.shuffle(pool)
    pool = [s[0].upper() + s[1:] for s in pool]
    answer = Answer(core=pool[0], sentence=f"Here is a short answer about {topic}. {pool[0]}",
                    extras=pool[1:])
    return TaskResult("chat", content=render(answer, ctx.features, ctx.profile, ctx.style_rng))


__all__ = ["chat", "topic_of"]
