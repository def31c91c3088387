"""The simulator's mutable state, shared by the HTTP server and the in-process provider.

Holds the current `SimConfig` (swappable at runtime with a JSON merge patch), the per-model
call randomness (faults and latency; seeded by `fault_seed`), scripted faults, the prompt-cache
prefixes seen so far, and per-model statistics. All of it behind one lock, because the server
runs in its own thread while a test patches the config from another.

    rt = SimRuntime(load_sim_config())
    rt.patch({"models": {"sim-large": {"faults": {"rate_503": 0.3}}}})
    plan = rt.plan(request)          # raises ProviderBadRequest / ContextWindowExceeded
    rt.stats()["models"]["sim-large"]["calls"]
"""

from __future__ import annotations

import itertools
import random
import secrets
import threading
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, replace
from typing import Any

from rampway.errors import ProviderBadRequest, ProviderError
from rampway.providers.sim._config import FaultKind, ModelProfile, SimConfig, apply_patch
from rampway.providers.sim._engine import (
    AnswerPlan,
    Choice,
    FaultPlan,
    Timing,
    draw_fault,
    memo_key,
    plan_answer,
    plan_timing,
    prefix_tokens,
)
from rampway.providers.types import ChatRequest, Usage

CACHE_MIN_TOKENS = 1024  # OpenAI caches prompts of at least 1024 tokens …
CACHE_BLOCK = 128  # … in 128-token increments
_CACHE_SLOTS = 4096
_MEMO_SLOTS = 4096
_MEMO_MAX_KEY = 32_768  # long prompts are not worth keeping in memory


@dataclass(slots=True)
class SimPlan:
    """Everything needed to serve one call in any wire format."""

    id: str
    model: str
    created: int
    profile: ModelProfile
    choices: list[Choice]
    usage: Usage
    timing: Timing
    fault: FaultPlan
    time_scale: float
    stream: bool = False
    top_logprobs: int | None = None  # None: no logprobs asked for; else alternatives per token

    @property
    def reported_model(self) -> str:
        """The model name the answer reports (the profile's `serves_as`, else the one asked)."""
        return self.profile.serves_as or self.model


class SimRuntime:
    def __init__(self, config: SimConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._rngs: dict[str, random.Random] = {}
        self._prefixes: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._stats: dict[str, dict[str, Any]] = {}
        self._memo: OrderedDict[str, tuple[ModelProfile, AnswerPlan]] = OrderedDict()
        self._ids = itertools.count(1)

    @property
    def config(self) -> SimConfig:
        return self._config

    def replace(self, config: SimConfig) -> None:
        """Swap the whole config; fault streams restart from `fault_seed`."""
        with self._lock:
            self._config = config
            self._rngs.clear()

    def patch(self, patch: Any) -> SimConfig:
        """Apply a JSON merge patch (validated as a whole; ConfigError leaves state unchanged)."""
        with self._lock:
            new = apply_patch(self._config, patch)
            if new.fault_seed != self._config.fault_seed:
                self._rngs.clear()
            self._config = new
            return new

    def _rng(self, model: str) -> random.Random:
        rng = self._rngs.get(model)
        if rng is None:
            seed = self._config.fault_seed
            rng = random.Random(f"{seed}:{model}" if seed is not None else secrets.randbits(64))
            self._rngs[model] = rng
        return rng

    def _pop_script(self, model: str, profile: ModelProfile) -> FaultKind | None:
        if not profile.faults.script:
            return None
        script = list(profile.faults.script)
        forced = script.pop(0)
        faults = profile.faults.model_copy(update={"script": script})
        new_profile = profile.model_copy(update={"faults": faults})
        models = {**self._config.models, model: new_profile}
        self._config = self._config.model_copy(update={"models": models})
        return forced

    def _cached(self, model: str, request: ChatRequest) -> int:
        key, tokens = prefix_tokens(request)
        if tokens < CACHE_MIN_TOKENS:
            return 0
        slot = (model, key)
        if slot in self._prefixes:
            self._prefixes.move_to_end(slot)
            return tokens // CACHE_BLOCK * CACHE_BLOCK
        self._prefixes[slot] = None
        if len(self._prefixes) > _CACHE_SLOTS:
            self._prefixes.popitem(last=False)
        return 0

    def profile(self, model: str) -> ModelProfile:
        profile = self._config.profile(model)
        if profile is None:
            raise ProviderBadRequest(
                f"The model `{model}` does not exist or you do not have access to it.",
                model=model, status=404)
        return profile

    def plan(self, request: ChatRequest, *, n: int = 1, stream: bool = False) -> SimPlan:
        """Draw this call's fault and latency, then plan the answer (unless the call fails)."""
        model = request.model
        with self._lock:
            profile = self.profile(model)
            forced = self._pop_script(model, profile)
            rng = self._rng(model)
            fault = draw_fault(profile.faults, rng, forced)
            timing_rng = random.Random(rng.getrandbits(64))
            cached = self._cached(model, request)
            scale = self._config.time_scale
            entropy = secrets.randbits(63)
            serial = next(self._ids)
        try:
            answer = self._answer(request, profile, entropy, n, cached)
        except ProviderError:
            self._record(model, "bad_request", None, stream)
            raise
        timing = plan_timing(profile.latency, answer.usage.input_tokens, timing_rng)
        self._record(model, fault.kind, answer.usage, stream)
        top = int(request.extra.get("top_logprobs") or 0) if request.extra.get("logprobs") else None
        return SimPlan(f"{serial:x}{entropy:016x}"[:24], model, int(time.time()), profile,
                       answer.choices, answer.usage, timing, fault, scale, stream, top)

    def _answer(self, request: ChatRequest, profile: ModelProfile, entropy: int, n: int,
                cached: int) -> AnswerPlan:
        """plan_answer, memoized for deterministic requests (keyed on the exact profile too)."""
        key = memo_key(request, n)
        if key is not None and len(key) > _MEMO_MAX_KEY:
            key = None
        hit = self._memo.get(key) if key is not None else None
        if hit is not None and hit[0] is profile:
            base = hit[1]
        else:
            base = plan_answer(request, profile, entropy=entropy, n=n)
            if key is not None:
                with self._lock:
                    self._memo[key] = (profile, base)
                    if len(self._memo) > _MEMO_SLOTS:
                        self._memo.popitem(last=False)
        usage = Usage(base.usage.input_tokens, base.usage.output_tokens,
                      min(cached, base.usage.input_tokens))
        choices = [replace(c, tool_calls=[replace(t) for t in c.tool_calls] if c.tool_calls
                           else None) for c in base.choices]
        return AnswerPlan(choices, usage)

    def _record(self, model: str, outcome: str, usage: Usage | None, stream: bool) -> None:
        with self._lock:
            row = self._stats.setdefault(model, {
                "calls": 0, "stream_calls": 0, "outcomes": defaultdict(int),
                "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0})
            row["calls"] += 1
            row["stream_calls"] += int(stream)
            row["outcomes"][outcome] += 1
            if usage is not None and outcome == "ok":
                row["input_tokens"] += usage.input_tokens
                row["output_tokens"] += usage.output_tokens
                row["cached_tokens"] += usage.cached_tokens

    def stats(self) -> dict[str, Any]:
        """Per-model call counts, outcomes (ok / fault kind / bad_request) and token totals."""
        with self._lock:
            models = {m: {**row, "outcomes": dict(row["outcomes"])}
                      for m, row in self._stats.items()}
        return {"models": models, "total_calls": sum(r["calls"] for r in models.values())}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()


__all__ = ["CACHE_BLOCK", "CACHE_MIN_TOKENS", "SimPlan", "SimRuntime"]
