"""Rollout plans: `rollouts/<feature>.yaml`, validated as a whole before anything starts.

    baseline: production          # channel (or release ref) the candidate is compared with
    unit: user                    # what assignment hashes and the judge counts: user | session
                                  # (no such id: that request is randomised on its own)
    alpha: 0.05                   # false-alarm budget of the whole rollout
    steps:
      - {weight: 1, dwell: 1h}
      - {weight: 5, dwell: 2h}
      - {weight: 25, dwell: 6h}
      - {weight: 50, dwell: 12h, approval: true}   # a human approves before 50%
      - {weight: 100}
    guardrails:
      - {metric: error_rate, margin: {relative: 0.2}, critical: true, min_sample: 200}
      - {metric: latency_p95, margin: {relative: 0.2}, critical: true}
      - {metric: "feedback:thumbs_up", bad: decrease, margin: {absolute: 0.05}}
    srm: {threshold: 0.001}       # sample-ratio-mismatch check, on by default; `srm: false` = off
    requires: {shadow: v3-on-prod, min_pairs: 500}   # optional: shadow pairs before the start
    webhooks:
      - {url: "https://hooks.slack.com/services/…", format: slack}

Weights are percentages of units (strictly increasing, the last one 100: a rollout ends with
the candidate serving everyone); `dwell` is the minimum time a step runs before it may advance
(`90s`, `30m`, `1h30m`, `2d` or seconds); `max_dwell` (default 4 x dwell, at least 1h) is how
long a step may stay undecided before it pauses for a human. Without a `guardrails` key the
defaults below apply.
`srm` checks that the units each arm saw match the step's weight (see `SampleRatioCheck`); a
mismatch pauses the rollout. Errors name `file:line` and the offending key.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from rampway._durations import MAX_DURATION as MAX_DURATION  # re-exported
from rampway._durations import check_percent as check_percent
from rampway._durations import parse_duration as parse_duration
from rampway._durations import strip_percent as strip_percent
from rampway._yaml import describe_validation_error, load_located, validate_located
from rampway.assign import BUCKETS
from rampway.errors import ConfigError
from rampway.rollout.metrics import metric_def

ROLLOUTS_DIR = "rollouts"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Without `max_dwell`, a step that cannot decide pauses for a human after this many times its
#: dwell, and never before an hour: long enough for traffic to answer, short enough that an
#: undecidable step (too few users, a guardrail on the margin) does not sit unseen for days.
MAX_DWELL_FACTOR = 4.0
MAX_DWELL_FLOOR = 3600.0


class Step(_Strict):
    """Serve the candidate to `weight`% of units for at least `dwell` seconds; if its
    guardrails are still undecided (not enough data, or an interval straddling the margin)
    after `max_dwell` seconds, pause for a human with the evidence."""

    weight: float
    dwell: float = 0.0
    max_dwell: float | None = None
    approval: StrictBool = False

    @field_validator("weight", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return strip_percent(value)

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: float) -> float:
        return check_percent(value, "weight")

    @field_validator("dwell", mode="before")
    @classmethod
    def _dwell(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("max_dwell", mode="before")
    @classmethod
    def _max_dwell(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _max_after_min(self) -> Step:
        if self.max_dwell is not None and self.max_dwell < self.dwell:
            raise ValueError("max_dwell must not be shorter than dwell")
        return self

    @property
    def weight_bp(self) -> int:
        return round(self.weight * 100)

    @property
    def dwell_limit(self) -> float:
        """`max_dwell`, or the default: MAX_DWELL_FACTOR x dwell, at least MAX_DWELL_FLOOR."""
        if self.max_dwell is not None:
            return self.max_dwell
        return max(MAX_DWELL_FACTOR * self.dwell, MAX_DWELL_FLOOR, self.dwell)


class Margin(_Strict):
    """How much worse the candidate may be before a guardrail fails: relative OR absolute."""

    relative: StrictFloat | None = None
    absolute: StrictFloat | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Margin:
        given = [v for v in (self.relative, self.absolute) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'relative' or 'absolute'")
        if not math.isfinite(given[0]) or given[0] < 0:
            raise ValueError("a margin must be a finite number >= 0")
        return self


class Guardrail(_Strict):
    """One metric the candidate must not worsen. `bad` says which direction is worse."""

    metric: str
    bad: Literal["increase", "decrease"] = "increase"
    margin: Margin = Field(default_factory=lambda: Margin(relative=0.1))
    critical: StrictBool = False
    min_sample: StrictInt = Field(default=100, ge=2)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            metric_def(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from exc
        return value

    @model_validator(mode="after")
    def _decrease_margin(self) -> Guardrail:
        rel = self.margin.relative
        if self.bad == "decrease" and rel is not None and rel >= 1:
            raise ValueError("a relative margin on a 'decrease' guardrail must be below 1")
        return self


class Webhook(_Strict):
    """A URL notified on rollout transitions: `json` (generic) or `slack` (text + blocks)."""

    url: str
    format: Literal["json", "slack"] = "json"
    events: list[Literal["start", "advance", "pause", "resume", "await_approval", "approve",
                         "rollback", "abort", "complete", "model_drift"]] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"https?://[^\s/]+", value):
            raise ValueError("webhook url must start with http:// or https://")
        return value


class ShadowRequirement(_Strict):
    """"Shadow before 1%": the rollout starts only once the shadow NAME has mirrored at least
    `min_pairs` of the feature's real requests to this very candidate (`rampway shadow`).

        requires: {shadow: v3-on-prod, min_pairs: 500}
    """

    shadow: str
    min_pairs: StrictInt = 100

    @field_validator("shadow")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
            raise ValueError("a shadow name uses letters, digits, '.', '_' or '-' (at most 64)")
        return value

    @field_validator("min_pairs")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("min_pairs must be at least 1")
        return value


SRM_MAX_THRESHOLD = 0.05


class SampleRatioCheck(_Strict):
    """The sample-ratio-mismatch (SRM) check of every judged step: a chi-square test of the
    units each arm saw against the split the step's weight promises (GrowthBook's check, at
    its default p < 0.001). A mismatch means assignment or logging is broken, so the
    guardrails' comparison can't be trusted: the rollout pauses for a human (it does not roll
    back — the data is suspect, not the candidate). How and when it is judged:
    `rampway.rollout._judge.judge_srm`.

        srm: {threshold: 0.001}   # the default
        srm: false                # off, e.g. traffic the gateway can't split by unit honestly
    """

    enabled: StrictBool = True
    threshold: StrictFloat = 0.001

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 < value <= SRM_MAX_THRESHOLD):
            raise ValueError(
                f"must be a p-value in (0, {SRM_MAX_THRESHOLD:g}]: it is the chance "
                "that a healthy step is paused (default 0.001)"
            )
        return value


DEFAULT_STEPS = (
    Step(weight=1, dwell=3600), Step(weight=5, dwell=7200), Step(weight=25, dwell=21600),
    Step(weight=50, dwell=43200), Step(weight=100),
)
DEFAULT_GUARDRAILS = (
    Guardrail(metric="error_rate", margin=Margin(relative=0.2), critical=True, min_sample=200),
    Guardrail(metric="latency_p95", margin=Margin(relative=0.2), critical=True, min_sample=200),
    Guardrail(metric="fallback_rate", margin=Margin(relative=0.5), min_sample=200),
)


class Plan(_Strict):
    """A validated rollout plan; `candidate` is usually given on the command line instead."""

    feature: str | None = None
    candidate: str | None = None
    baseline: str = "production"
    unit: Literal["user", "session"] = "user"
    alpha: StrictFloat = 0.05
    steps: list[Step] = Field(default_factory=lambda: list(DEFAULT_STEPS))
    guardrails: list[Guardrail] = Field(default_factory=lambda: list(DEFAULT_GUARDRAILS))
    srm: SampleRatioCheck = Field(default_factory=SampleRatioCheck)
    webhooks: list[Webhook] = Field(default_factory=list)
    requires: ShadowRequirement | None = None

    @field_validator("srm", mode="before")
    @classmethod
    def _srm_switch(cls, value: Any) -> Any:
        """`srm: false` / `srm: true` switch the check with its default threshold."""
        if isinstance(value, bool):
            return {"enabled": value}
        if not isinstance(value, dict | SampleRatioCheck):
            raise ValueError("must be true, false or a mapping like {threshold: 0.001}")
        return value

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0 < value < 0.5:
            raise ValueError("alpha must be within (0, 0.5)")
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[Step]) -> list[Step]:
        if not steps:
            raise ValueError("a plan needs at least one step")
        for before, after in zip(steps, steps[1:], strict=False):
            if after.weight <= before.weight:
                raise ValueError(
                    f"step weights must increase, got {before.weight:g}% then {after.weight:g}%"
                )
        if steps[-1].weight_bp != BUCKETS:
            raise ValueError("the last step must be 100%: a rollout ends serving everyone")
        return steps

    @field_validator("guardrails")
    @classmethod
    def _guardrails(cls, guardrails: list[Guardrail]) -> list[Guardrail]:
        if not guardrails:
            raise ValueError("a plan needs at least one guardrail (omit the key for defaults)")
        seen: set[tuple[str, str]] = set()
        for g in guardrails:
            key = (g.metric, g.bad)
            if key in seen:
                raise ValueError(f"guardrail {g.metric} ({g.bad}) is listed twice")
            seen.add(key)
        return guardrails

    @property
    def judged_steps(self) -> int:
        """Steps with a concurrent baseline to compare against (all but a 100% step)."""
        return sum(1 for s in self.steps if s.weight_bp < BUCKETS)

    def guardrail_alpha(self) -> float:
        """Per-look error budget of one guardrail in one step (Bonferroni over both)."""
        return self.alpha / (len(self.guardrails) * max(1, self.judged_steps))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_plan(text: str, file: str) -> Plan:
    """Validate the YAML text of a plan; errors are ConfigError naming `file:line: key: why`."""
    doc = load_located(text, file, error=ConfigError)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{file}:{doc.line_of(())}: a plan must be a mapping")
    return validate_located(Plan, data, file, doc.line_of)


def load_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read plan: {exc}") from exc
    return parse_plan(text, str(path))


def plan_for(root: Path, feature: str, path: Path | None = None) -> Plan:
    """The plan to use: `path` if given, else `rollouts/<feature>.yaml`, else the defaults."""
    if path is None:
        default = root / ROLLOUTS_DIR / f"{feature}.yaml"
        plan = load_plan(default) if default.is_file() else Plan()
    else:
        plan = load_plan(path)
    if plan.feature is not None and plan.feature != feature:
        raise ConfigError(f"plan is for feature {plan.feature!r}, not {feature!r}")
    return plan


class RolloutSettings(_Strict):
    """The `rollouts:` section of rampway.yaml: webhooks for every rollout, look interval."""

    interval: float = 60.0
    webhooks: list[Webhook] = Field(default_factory=list)

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("interval must be positive")
        return seconds


def settings_from(section: Any, file: str = "rampway.yaml") -> RolloutSettings:
    """Validate the `rollouts:` section; errors read `rampway.yaml: rollouts.<key>: why`."""
    try:
        return RolloutSettings.model_validate(section or {})
    except ValidationError as exc:
        _, message = describe_validation_error(exc.errors()[0], section)
        raise ConfigError(f"{file}: rollouts.{message.replace('Value error, ', '')}") from exc


def plan_from_json(data: Any) -> Plan:
    """A plan as stored with a rollout (already validated when the rollout started)."""
    return Plan.model_validate(data)


__all__ = [
    "DEFAULT_GUARDRAILS",
    "DEFAULT_STEPS",
    "ROLLOUTS_DIR",
    "Guardrail",
    "Margin",
    "Plan",
    "RolloutSettings",
    "SRM_MAX_THRESHOLD",
    "SampleRatioCheck",
    "ShadowRequirement",
    "Step",
    "Webhook",
    "check_percent",
    "load_plan",
    "parse_duration",
    "parse_plan",
    "plan_for",
    "plan_from_json",
    "settings_from",
    "strip_percent",
]
