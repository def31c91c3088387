"""Turn a task's answer into text with the model's verbosity and tone and the prompt's limits.

Tasks produce an `Answer`: the bare `core` ("14"), a full `sentence` ("The answer is 14."),
optional reasoning `steps` and optional `extras` (elaboration). The renderer decides how much
of it to say: "answer with only…" or "one word" gives just the core; a verbose model adds a
preamble, more elaboration and a closing line in its tone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rampway.providers.sim._config import ModelProfile, Tone
from rampway.providers.sim._prompt import PromptFeatures

_PREAMBLES: dict[Tone, tuple[str, ...]] = {
    "neutral": ("Here is the answer.", "Sure.", "Okay."),
    "friendly": ("Great question! 😊", "Happy to help!", "Sure thing!", "Absolutely!"),
    "formal": ("Certainly.", "Thank you for your question.", "Of course."),
}
_CLOSINGS: dict[Tone, tuple[str, ...]] = {
    "neutral": ("Let me know if you need anything else.", "I hope that answers your question."),
    "friendly": ("Hope this helps! 🙌", "Feel free to ask if anything else comes up! 😊",
                 "Have a wonderful day! ✨"),
    "formal": ("Please let me know if you require further assistance.",
               "I trust this information is helpful."),
}


@dataclass(slots=True)
class Answer:
    core: str
    sentence: str = ""
    steps: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < min(1.0, max(0.0, p))


def _limit_words(text: str, max_words: int | None) -> str:
    if max_words is None:
        return text
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words])


def render(answer: Answer, f: PromptFeatures, profile: ModelProfile, rng: random.Random) -> str:
    """Final answer text. Deterministic given `rng`'s state."""
    if f.one_word or (f.terse and not f.step_by_step):
        return answer.core
    if f.terse:  # step by step, then only the answer: reasoning lines and a bare final line
        return "\n".join([*answer.steps, answer.core]) if answer.steps else answer.core
    v = profile.verbosity
    blocks: list[str] = []
    if _chance(rng, 0.35 * v - 0.1):
        blocks.append(rng.choice(_PREAMBLES[profile.tone]))
    if answer.steps and (f.step_by_step or _chance(rng, 0.4 * v)):
        blocks.append("\n".join(answer.steps))
    body = [answer.sentence or answer.core]
    body.extend(answer.extras[: int(v * 1.2 + rng.random())])
    if _chance(rng, 0.4 * v - 0.2):
        body.append(rng.choice(_CLOSINGS[profile.tone]))
    blocks.append(" ".join(body))
    text = "\n".join(blocks)
    return _limit_words(text, f.max_words)


__all__ = ["Answer", "render"]
