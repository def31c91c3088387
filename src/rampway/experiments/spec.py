"""Experiment definitions: `experiments/<name>.yaml`, validated as a whole before anything starts.

    feature: support-bot
    description: Friendlier tone raises thumbs-up without more escalations
    unit: user                  # user | session (the session id): what assignment hashes and
                                # what the analysis counts; no such id: not in the experiment
    arms:                       # the first arm is the control
      - {name: control, release: production, weight: 50}
      - {name: friendly, release: "releases/support-bot", weight: 50}
    coverage: 100               # % of units in the experiment (the rest: production, unexposed)
    primary: "feedback:thumbs_up"
    secondary: ["conversion:resolved", "retention:1d"]
    better: {"feedback:handle_time": decrease}   # only where a metric's usual direction is wrong
    guardrails:
      - {metric: error_rate, bad: increase}
      - {metric: latency_p95, bad: increase}
    alpha: 0.05
    min_runtime: 7d             # the analysis says "too early to call" before this

An arm's `release` is a channel, a release id or prefix, or a repo ref (a release directory,
a git revision); `rampway experiment start` resolves each to one release id, and the experiment
serves those ids until it stops, whatever the channels do meanwhile. Weights are whole
percentages summing to 100, or all omitted for an equal split; 2 to 6 arms with unique names.
Metric names are checked against the analysis' catalogue (`rampway.experiments.metrics`).

The experiment's name is the file's stem. Errors name `file:line` and the offending key.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, field_validator, model_validator

from rampway._definitions import NAME_PATTERN, DefinitionFiles, FeatureName
from rampway.assign import BUCKETS
from rampway.errors import ConfigError
from rampway.experiments.metrics import metric_def
from rampway.experiments.model import Arm, Guardrail
from rampway.rollout.plan import check_percent, parse_duration, strip_percent

EXPERIMENTS_DIR = "experiments"
MIN_ARMS, MAX_ARMS = 2, 6
#: Labels the event log's `arm` column already uses for traffic outside experiments: the
#: production channel, and a rollout's two arms. An arm called so would mix with that traffic.
RESERVED_ARMS = frozenset({"production", "baseline", "candidate"})
DEFAULT_MIN_RUNTIME = 7 * 86400.0


def check_metric(name: str) -> str:
    """A metric the analysis knows; ValueError (for pydantic) naming the problem otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a metric name must be a non-empty string")
    try:
        metric_def(name)
    except ConfigError as exc:
        raise ValueError(exc.message) from exc
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArmSpec(_Strict):
    """One arm as written: its name, the release ref it serves and its % of covered units."""

    name: str
    release: str
    weight: int | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError("arm names use letters, digits, '.', '_' or '-' (at most 64)")
        if value in RESERVED_ARMS:
            raise ValueError(f"'{value}' is reserved (the event log uses it for traffic "
                             "outside experiments); pick another arm name")
        return value

    @field_validator("release")
    @classmethod
    def _release(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give a channel, release id or repo ref")
        return value.strip()

    @field_validator("weight", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        # a string is refused too: JSON clients send numbers ("50" was taken as 50)
        if isinstance(value, bool | str) or (isinstance(value, float)
                                             and not value.is_integer()):
            raise ValueError("weight must be a whole percentage")
        return value

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: int | None) -> int | None:
        if value is not None and not 0 < value <= 100:
            raise ValueError("weight must be a percentage in (0, 100]")
        return value


class GuardrailSpec(_Strict):
    """A metric the treatment arms must not move in the `bad` direction."""

    metric: str
    bad: Literal["increase", "decrease"] = "increase"

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        return check_metric(value)


class Definition(_Strict):
    """A validated experiment definition (the YAML file as a model)."""

    feature: FeatureName
    description: str = ""
    unit: Literal["user", "session"] = "user"
    arms: list[ArmSpec]
    coverage: float = 100.0
    primary: str
    secondary: list[str] = Field(default_factory=list)
    guardrails: list[GuardrailSpec] = Field(default_factory=list)
    better: dict[str, Literal["increase", "decrease"]] = Field(default_factory=dict)
    alpha: StrictFloat = 0.05
    min_runtime: float = DEFAULT_MIN_RUNTIME

    @field_validator("coverage", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return strip_percent(value)

    @field_validator("coverage")
    @classmethod
    def _coverage(cls, value: float) -> float:
        return check_percent(value, "coverage")

    @field_validator("primary")
    @classmethod
    def _primary(cls, value: str) -> str:
        return check_metric(value)

    @field_validator("secondary")
    @classmethod
    def _secondary(cls, values: list[str]) -> list[str]:
        for value in values:
            check_metric(value)
        if len(set(values)) != len(values):
            raise ValueError("a secondary metric is listed twice")
        return values

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0 < value < 0.5:
            raise ValueError("alpha must be within (0, 0.5)")
        return value

    @field_validator("min_runtime", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("arms")
    @classmethod
    def _arms(cls, arms: list[ArmSpec]) -> list[ArmSpec]:
        if not MIN_ARMS <= len(arms) <= MAX_ARMS:
            raise ValueError(f"an experiment has {MIN_ARMS} to {MAX_ARMS} arms, got {len(arms)}")
        names = [a.name for a in arms]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"arm names must be unique: {', '.join(twice)} is listed twice")
        given = [a.weight for a in arms if a.weight is not None]
        if given and len(given) != len(arms):
            raise ValueError("give every arm a weight, or none for an equal split")
        if given and sum(given) != 100:
            raise ValueError(f"arm weights must sum to 100, got {sum(given)}")
        return arms

    @field_validator("guardrails")
    @classmethod
    def _guardrails(cls, guardrails: list[GuardrailSpec]) -> list[GuardrailSpec]:
        seen = set()
        for g in guardrails:
            if (g.metric, g.bad) in seen:
                raise ValueError(f"guardrail {g.metric} ({g.bad}) is listed twice")
            seen.add((g.metric, g.bad))
        return guardrails

    @model_validator(mode="after")
    def _primary_apart(self) -> Definition:
        if self.primary in self.secondary:
            raise ValueError(f"the primary metric {self.primary!r} is also listed as secondary")
        unknown = sorted(set(self.better) - {self.primary, *self.secondary})
        if unknown:
            raise ValueError(f"better: {', '.join(unknown)} is not the primary or a secondary "
                             "metric (a guardrail's direction is its `bad`)")
        return self

    # -- derived -----------------------------------------------------------------------------

    @property
    def coverage_bp(self) -> int:
        return round(self.coverage * 100)

    def weights_bp(self) -> list[int]:
        """Each arm's share of the buckets; an equal split gives the remainder to the first arms
        (3 arms: 3334, 3333, 3333)."""
        if self.arms[0].weight is not None:
            return [(a.weight or 0) * 100 for a in self.arms]
        share, extra = divmod(BUCKETS, len(self.arms))
        return [share + (1 if i < extra else 0) for i in range(len(self.arms))]

    def resolved_arms(self, release_ids: list[str]) -> tuple[Arm, ...]:
        """The arms as started, given each arm's resolved release id (in order)."""
        return tuple(Arm(a.name, rid, w) for a, rid, w
                     in zip(self.arms, release_ids, self.weights_bp(), strict=True))

    def guardrail_records(self) -> tuple[Guardrail, ...]:
        return tuple(Guardrail(g.metric, g.bad) for g in self.guardrails)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


_FILES = DefinitionFiles(Definition, EXPERIMENTS_DIR, noun="experiment", article="an")
check_name = _FILES.check_name
parse_definition = _FILES.parse
definition_from = _FILES.from_data
definition_path = _FILES.path
load_definition = _FILES.load
definition_names = _FILES.names  # the `experiments/*.yaml` stems, sorted


__all__ = [
    "DEFAULT_MIN_RUNTIME",
    "EXPERIMENTS_DIR",
    "MAX_ARMS",
    "MIN_ARMS",
    "RESERVED_ARMS",
    "ArmSpec",
    "Definition",
    "GuardrailSpec",
    "check_metric",
    "check_name",
    "definition_from",
    "definition_names",
    "definition_path",
    "load_definition",
    "parse_definition",
]
