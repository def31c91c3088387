"""What every task family gets: the request, the prompt features, the model and two RNGs.

`case_rng` decides correctness. It is seeded from (model, final user turn, seed, sample index)
only, so two prompts that differ in their system prompt or examples share the same draws
("common random numbers"): raising p never turns a correct answer into a wrong one. `style_rng`
(seeded from the whole conversation) picks wording, preambles and the like.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from rampway.providers.sim._config import ModelProfile
from rampway.providers.sim._prompt import PromptFeatures, prompt_bonus
from rampway.providers.types import ChatRequest, ToolCall


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def p_correct(profile: ModelProfile, family: str, f: PromptFeatures, difficulty: float) -> float:
    """Probability that `profile` answers a `family` case right under prompt `f`."""
    z = _logit(profile.quality) + profile.skills.get(family, 0.0)
    z += prompt_bonus(family, f) - difficulty
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(slots=True)
class Ctx:
    request: ChatRequest
    features: PromptFeatures
    profile: ModelProfile
    case_rng: random.Random
    style_rng: random.Random

    def draw_correct(self, family: str, difficulty: float = 0.0) -> bool:
        """One correctness draw for `family` (consumes one number of `case_rng`)."""
        return self.case_rng.random() < p_correct(self.profile, family, self.features, difficulty)


@dataclass(slots=True)
class TaskResult:
    """A task family's answer for one choice, before truncation and token accounting."""

    family: str
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    correct: bool | None = None


__all__ = ["Ctx", "TaskResult", "p_correct"]
