"""The simulator's pure core: request + model profile (+ random draws) → a planned answer.

No I/O and no clocks. Randomness comes in three explicitly seeded streams:

* content — per choice, a `case` stream keyed on (model, final user turn, seed, sample index)
  that decides correctness, and a `style` stream keyed on the whole conversation that picks
  wording. The seed is `request.seed`; if None, temperature 0 means seed 0 and temperature > 0
  (OpenAI's default is 1) means fresh randomness (`entropy`), like a real model.
* call — the caller's `call_rng` (see `SimRuntime`) draws latency and faults, independently of
  the content, so a retried identical request can fail and then succeed, and fault rates can be
  tested exactly (with `fault_seed` fixed, the sequence of faults is reproducible).

    plan = plan_answer(request, profile, entropy=0)
    plan.choices[0].content, plan.usage.output_tokens
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass

from rampway.errors import ContextWindowExceeded, ProviderBadRequest
from rampway.providers.sim import _tokens
from rampway.providers.sim._config import FaultKind, Faults, Latency, ModelProfile
from rampway.providers.sim._prompt import PromptFeatures, extract_features
from rampway.providers.sim._tasks import Ctx, TaskResult, dispatch
from rampway.providers.types import ChatRequest, FinishReason, ToolCall, Usage

MAX_CHOICES = 8


@dataclass(slots=True)
class Choice:
    """One sampled answer, ready for any wire format."""

    index: int
    content: str | None
    tool_calls: list[ToolCall] | None
    refusal: str | None
    finish_reason: FinishReason
    output_tokens: int
    family: str
    correct: bool | None
    stop_sequence: str | None = None


@dataclass(slots=True)
class Timing:
    """Planned latency in simulated seconds (multiply by `time_scale` before sleeping)."""

    ttft_s: float = 0.0
    per_token_s: float = 0.0

    def total(self, n_tokens: int) -> float:
        return self.ttft_s + self.per_token_s * n_tokens


@dataclass(slots=True)
class FaultPlan:
    """What goes wrong with this call, if anything."""

    kind: FaultKind = "ok"
    retry_after_s: float = 1.0
    hang_s: float = 30.0
    cut_fraction: float = 0.5
    cut_after_chunks: int | None = None

    def cut_point(self, n_pieces: int) -> int:
        """How many content pieces are sent before a mid-stream cut: 1 … n-1 (the finish never
        arrives); an answer of 0 or 1 piece is cut after all of it."""
        if n_pieces <= 1:
            return n_pieces
        if self.cut_after_chunks is not None:
            return min(self.cut_after_chunks, n_pieces - 1)
        return min(n_pieces - 1, 1 + int(self.cut_fraction * (n_pieces - 1)))


@dataclass(slots=True)
class AnswerPlan:
    choices: list[Choice]
    usage: Usage


def _digest(*parts: object) -> int:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode())
    return int.from_bytes(h.digest()[:8], "big")


def effective_seed(request: ChatRequest, entropy: int) -> int:
    """request.seed, else 0 at temperature 0, else `entropy` (fresh per call)."""
    if request.seed is not None:
        return request.seed
    if request.temperature is not None and request.temperature <= 0:
        return 0
    return entropy


def conversation_key(request: ChatRequest) -> str:
    msgs = [(m.role, m.content, m.tool_call_id,
             [(t.name, t.arguments) for t in m.tool_calls or []]) for m in request.messages]
    return json.dumps([msgs, request.tools, request.response_format, request.tool_choice],
                      sort_keys=True, default=str)


def prompt_tokens(request: ChatRequest) -> int:
    """Input tokens of a request: texts, tool-call arguments, tools and schema."""
    texts: list[str | None] = []
    for m in request.messages:
        texts.append(m.content)
        texts.extend(f"{t.name}{t.arguments}" for t in m.tool_calls or [])
    extra = [request.tools, request.response_format] if (request.tools or
                                                         request.response_format) else None
    return _tokens.count_prompt(texts, len(request.messages), extra)


def prefix_tokens(request: ChatRequest) -> tuple[str, int]:
    """(hash, tokens) of the stable prefix a provider could cache: system messages + tools."""
    system = [m.content for m in request.messages if m.role == "system"]
    key = hashlib.sha256(json.dumps([system, request.tools], default=str).encode()).hexdigest()
    return key, _tokens.count_prompt(system, len(system), request.tools)


def check_request(request: ChatRequest, profile: ModelProfile, n_input: int, n: int) -> None:
    """Reject what the real APIs reject: too many choices, too long output, too long prompt."""
    model = request.model
    if not 1 <= n <= MAX_CHOICES:
        raise ProviderBadRequest(f"n must be between 1 and {MAX_CHOICES}", model=model, status=400)
    if request.max_tokens is not None and not 1 <= request.max_tokens <= profile.max_output_tokens:
        raise ProviderBadRequest(
            f"max_tokens is too large: {request.max_tokens}. This model supports at most "
            f"{profile.max_output_tokens} completion tokens.", model=model, status=400)
    wanted = n_input + (request.max_tokens or 0)
    if wanted > profile.context_window:
        raise ContextWindowExceeded(
            f"This model's maximum context length is {profile.context_window} tokens. However, "
            f"you requested {wanted} tokens ({n_input} in the messages, "
            f"{request.max_tokens or 0} in the completion). Please reduce the length of the "
            "messages or completion.", model=model, status=400)


def _apply_stop(text: str, stops: list[str] | None) -> tuple[str, str | None]:
    hits = [(text.find(s), s) for s in stops or [] if s and s in text]
    if not hits:
        return text, None
    at, stop = min(hits)
    return text[:at], stop


def _finish(index: int, result: TaskResult, request: ChatRequest) -> Choice:
    if result.refusal is not None:
        return Choice(index, None, None, result.refusal, "stop", _tokens.count(result.refusal),
                      result.family, result.correct)
    if result.tool_calls:
        out = sum(_tokens.count(t.name) + _tokens.count(t.arguments) + 3
                  for t in result.tool_calls)
        return Choice(index, None, result.tool_calls, None, "tool_calls", out, result.family,
                      result.correct)
    text, stop = _apply_stop(result.content or "", request.stop)
    pieces = _tokens.pieces(text)
    finish: FinishReason = "stop"
    if request.max_tokens is not None and len(pieces) > request.max_tokens:
        pieces = pieces[: request.max_tokens]
        text, finish, stop = "".join(pieces), "length", None
    return Choice(index, text, None, None, finish, len(pieces), result.family, result.correct,
                  stop)


def answer_choice(request: ChatRequest, profile: ModelProfile, features: PromptFeatures,
                  index: int, seed: int) -> Choice:
    """One choice: seed the two content streams, let the task families answer, finish it."""
    last_user = next((m.content or "" for m in reversed(request.messages) if m.role == "user"),
                     "")
    case_rng = random.Random(_digest("case", request.model, last_user, seed, index))
    style_rng = random.Random(_digest("style", request.model, conversation_key(request), seed,
                                      index))
    ctx = Ctx(request, features, profile, case_rng, style_rng)
    return _finish(index, dispatch(ctx), request)


def memo_key(request: ChatRequest, n: int) -> str | None:
    """A key under which the answer can be memoized, or None when it samples fresh randomness.

    The answer is a pure function of the request once the seed is fixed, so repeated identical
    requests (benches, eval repeats at temperature 0) need not be recomputed.
    """
    if request.seed is None and (request.temperature is None or request.temperature > 0):
        return None
    return json.dumps([request.model, n, request.seed, request.temperature, request.max_tokens,
                       request.stop, request.extra.get("parallel_tool_calls"),
                       conversation_key(request)], default=str)


def plan_answer(request: ChatRequest, profile: ModelProfile, *, entropy: int, n: int = 1,
                cached_tokens: int = 0) -> AnswerPlan:
    """Validate the request and produce `n` deterministic choices with usage."""
    n_input = prompt_tokens(request)
    check_request(request, profile, n_input, n)
    features = extract_features(request)
    seed = effective_seed(request, entropy)
    choices = [answer_choice(request, profile, features, i, seed) for i in range(n)]
    usage = Usage(n_input, sum(c.output_tokens for c in choices), min(cached_tokens, n_input))
    return AnswerPlan(choices, usage)


def plan_timing(latency: Latency, input_tokens: int, rng: random.Random) -> Timing:
    """Lognormal time to first token (plus prefill) and a jittered per-token delay."""
    ttft = latency.ttft_median_s * math.exp(latency.ttft_sigma * rng.gauss(0.0, 1.0))
    ttft += latency.prefill_ms_per_1k_tokens * input_tokens / 1_000_000
    per_token = latency.per_token_ms / 1000 * max(0.05, 1 + latency.per_token_jitter *
                                                  rng.gauss(0.0, 1.0))
    return Timing(ttft, per_token)


def draw_fault(faults: Faults, rng: random.Random, forced: FaultKind | None = None) -> FaultPlan:
    """One uniform draw split by the rates in a fixed order; `forced` wins (scripted faults)."""
    u, cut = rng.random(), rng.random()
    kind: FaultKind = "ok"
    if forced is not None:
        kind = forced
    else:
        acc = 0.0
        for candidate, rate in faults.rates():
            acc += rate
            if u < acc:
                kind = candidate
                break
    return FaultPlan(kind, faults.retry_after_s, faults.hang_s, cut, faults.cut_after_chunks)


__all__ = [
    "AnswerPlan",
    "Choice",
    "FaultPlan",
    "Timing",
    "check_request",
    "conversation_key",
    "draw_fault",
    "effective_seed",
    "memo_key",
    "plan_answer",
    "plan_timing",
    "prefix_tokens",
    "prompt_tokens",
]
