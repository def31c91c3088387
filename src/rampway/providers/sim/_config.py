"""Configuration of the simulated provider: `sim.yaml` → `SimConfig` (pydantic, extra="forbid").

Every knob a rollout or an eval can feel lives on a `ModelProfile`: accuracy (`quality`),
verbosity and tone, JSON adherence, tool-use propensity, refusal rate, latency distributions,
prices and fault rates. Example `sim.yaml`:

    time_scale: 1.0          # 0 = no waiting at all (tests, benches), 1 = real time
    models:
      sim-large:
        quality: 0.8
        latency: {ttft_median_s: 0.4, ttft_sigma: 0.35, per_token_ms: 18}
        faults: {rate_429: 0.05, retry_after_s: 1.0}

A file only needs the models it changes: `load_sim_config(path)` merges it over the bundled
defaults (`default_sim.yaml`), key by key, so `models: {sim-small: {faults: {rate_500: 0.1}}}`
keeps every other default.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rampway.errors import ConfigError

Tone = Literal["neutral", "friendly", "formal"]
FaultKind = Literal["ok", "429", "500", "503", "hang", "reset", "midstream_cut"]
FAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "503", "hang", "reset", "midstream_cut")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Latency(_Strict):
    """Time to first token is lognormal (median, sigma); tokens then stream at a jittered rate."""

    ttft_median_s: float = Field(0.3, ge=0)
    ttft_sigma: float = Field(0.3, ge=0, le=3)
    per_token_ms: float = Field(15.0, ge=0)
    per_token_jitter: float = Field(0.2, ge=0, le=1)
    prefill_ms_per_1k_tokens: float = Field(10.0, ge=0)


class Prices(_Strict):
    """USD per 1M tokens. The model catalog carries the same numbers for cost accounting."""

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    cached_input_per_mtok: float = Field(0.0, ge=0)


class Faults(_Strict):
    """Per-call fault probabilities, drawn independently of the request content.

    `script` forces the next faults in order (e.g. ["429", "ok"]) before random draws resume,
    so a test can produce an exact sequence. `cut_after_chunks` fixes where a mid-stream cut
    happens (default: uniformly inside the answer, after at least one chunk).
    """

    rate_429: float = Field(0.0, ge=0, le=1)
    retry_after_s: float = Field(1.0, ge=0)
    rate_500: float = Field(0.0, ge=0, le=1)
    rate_503: float = Field(0.0, ge=0, le=1)
    rate_hang: float = Field(0.0, ge=0, le=1)
    hang_s: float = Field(30.0, ge=0, le=600)
    rate_reset: float = Field(0.0, ge=0, le=1)
    rate_midstream_cut: float = Field(0.0, ge=0, le=1)
    cut_after_chunks: int | None = Field(None, ge=1)
    script: list[FaultKind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rates_sum_to_at_most_one(self) -> Faults:
        if self.total_rate() > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {self.total_rate():.3f}, must be <= 1")
        return self

    def rates(self) -> list[tuple[FaultKind, float]]:
        """(kind, probability) in a fixed order, which fixes how one uniform draw is split."""
        return [
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("503", self.rate_503),
            ("hang", self.rate_hang),
            ("reset", self.rate_reset),
            ("midstream_cut", self.rate_midstream_cut),
        ]

    def total_rate(self) -> float:
        return sum(rate for _, rate in self.rates())


class ModelProfile(_Strict):
    """One simulated model: how good, how talkative, how fast, how flaky and how expensive.

    `quality` is the probability of a correct answer on a typical case with a bare prompt;
    prompt features move it in logit space (see `_prompt.py`). `skills` adds per-family logit
    offsets (arithmetic, extraction, classification, faq, factual, tools). `tool_match` is how
    strongly a message must point at a tool before the model considers calling it (overlap
    with the tool's name words counts 2, with its description 1): 2 needs a name word ("where
    is my order" → lookup_order), 1 is an eager model that acts on a description word alone
    ("any news on the status of A-10442?").
    """

    owned_by: str = "rampway-sim"
    description: str = ""
    # What responses say answered. A real provider moves an alias (`gpt-4o`) to a new snapshot
    # without notice; set `serves_as` (and a new `fingerprint`) to simulate that move.
    serves_as: str | None = Field(None, min_length=1, max_length=200)
    fingerprint: str = Field("fp_rampway_sim", min_length=1, max_length=100)
    context_window: int = Field(128_000, ge=256)
    max_output_tokens: int = Field(16_384, ge=1)
    quality: float = Field(0.8, gt=0, lt=1)
    skills: dict[str, float] = Field(default_factory=dict)
    verbosity: float = Field(1.0, ge=0, le=5)
    tone: Tone = "neutral"
    json_adherence: float = Field(0.95, ge=0, le=1)
    tool_propensity: float = Field(0.8, ge=0, le=1)
    tool_match: int = Field(2, ge=1, le=10)
    refusal_rate: float = Field(0.0, ge=0, le=1)
    latency: Latency = Field(default_factory=Latency)
    prices: Prices = Field(default_factory=Prices)
    faults: Faults = Field(default_factory=Faults)


class SimConfig(_Strict):
    """The whole simulator: its models plus global switches.

    `time_scale` multiplies every planned wait (0 = answer instantly). `fault_seed` makes the
    fault/latency stream reproducible (None = fresh OS randomness). `api_key`, when set, must be
    presented by clients (Bearer or x-api-key), so auth failures can be exercised.
    """

    time_scale: float = Field(1.0, ge=0, le=100)
    fault_seed: int | None = None
    api_key: str | None = None
    models: dict[str, ModelProfile] = Field(default_factory=dict)

    def profile(self, model: str) -> ModelProfile | None:
        return self.models.get(model)


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): dicts merge recursively, `None` deletes, the rest replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate(data: Any, source: str) -> SimConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{source}: {where}: {first['msg']}") from exc


def default_config_data() -> dict[str, Any]:
    """The bundled defaults as plain data (a fresh copy each call)."""
    text = resources.files(__package__).joinpath("default_sim.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError("default_sim.yaml: expected a mapping at the top level")
    return data


def apply_patch(config: SimConfig, patch: Any, *, source: str = "patch") -> SimConfig:
    """A new config = `config` with a JSON merge patch applied, validated as a whole."""
    if not isinstance(patch, dict):
        raise ConfigError(f"{source}: a config patch must be a JSON object")
    return _validate(_deep_merge(config.model_dump(), patch), source)


def load_sim_config(path: str | Path | None = None) -> SimConfig:
    """Bundled defaults merged with `path`; a bad file raises ConfigError `file: key: why`."""
    base = default_config_data()
    if path is None:
        return _validate(base, "default_sim.yaml")
    source = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return _validate(_deep_merge(base, data), source)


__all__ = [
    "FAULT_KINDS",
    "FaultKind",
    "Faults",
    "Latency",
    "ModelProfile",
    "Prices",
    "SimConfig",
    "Tone",
    "apply_patch",
    "default_config_data",
    "load_sim_config",
]
