"""Shadow definitions: `shadows/<name>.yaml`, validated as a whole before anything starts.

    feature: support-bot
    description: v3 prompt on yesterday's real traffic, never served
    candidates: [releases/support-bot]   # channel, release id / prefix, or repo ref; 1 to 4
    sample: 10                  # % of eligible requests, sticky per unit (all of a user or none)
    condition: {plan: free, request.tools: true}    # optional, the flags' condition language
    budget: {usd_per_day: 5, requests_per_s: 2}     # mirroring stops at either cap
    ends: 7d                    # a duration from the start, or an ISO-8601 time; optional
    keep_text: true             # store the candidate's answer (redacted like the feature's)
    twin: 10                    # % of mirrored requests also re-asked of the primary's release
    timeout: 30s                # one shadow call's deadline (it never delays the served one)
    similarity: token_set       # or `embedding` (MiniLM; needs the rampway[embeddings] extra)

`candidates` are resolved to release ids by `rampway shadow start` (like an experiment's arms):
the shadow mirrors those ids until it stops, whatever the channels do meanwhile. The condition
sees what a flag rule sees (the app's attributes, `feature`, `unit`, `request.*`: see
`rampway.flags.serving`). `budget.usd_per_day` is the fleet's spend on the shadow per UTC day
(read back from the pairs it stored); `requests_per_s` caps each serving process.
`twin` is Diffy's noise floor: those requests are asked a second time of the release that
answered them, so the report can tell a real difference from the model's own variance.
`similarity` is how the report scores two texts for `text:dissimilar`: shared words
(`token_set`, the default) or meaning (`embedding`, see `rampway.shadow.embeddings`).

The shadow's name is the file's stem. Errors name `file:line` and the offending key.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, field_validator

from rampway._definitions import DefinitionFiles, FeatureName
from rampway._durations import parse_duration, strip_percent
from rampway.errors import FlagError
from rampway.flags import compile_condition

SHADOWS_DIR = "shadows"
MAX_CANDIDATES = 4
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_REQUESTS_PER_S = 10.0


def _share(value: float, what: str, *, allow_zero: bool) -> float:
    """A percentage in [0, 100] (or (0, 100]) in whole basis points."""
    low_ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not low_ok or value > 100:
        bounds = "0–100" if allow_zero else "(0, 100]"
        raise ValueError(f"{what} must be a percentage within {bounds}, got {value:g}")
    if abs(value * 100 - round(value * 100)) > 1e-9:
        raise ValueError(f"{what} must be a whole number of basis points (0.01%)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """Spend caps: mirroring stops (and `status` says so) once either is reached."""

    usd_per_day: StrictFloat
    requests_per_s: StrictFloat = DEFAULT_REQUESTS_PER_S

    @field_validator("usd_per_day", "requests_per_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"a budget must be > 0, got {value:g}")
        return value


class Definition(_Strict):
    """A validated shadow definition (the YAML file as a model)."""

    feature: FeatureName
    description: str = ""
    candidates: list[str]
    sample: float
    condition: dict[str, Any] | None = None
    budget: Budget
    ends: str | float | None = None
    keep_text: StrictBool = True
    twin: float = 0.0
    timeout: float = DEFAULT_TIMEOUT_S
    similarity: Literal["token_set", "embedding"] = "token_set"

    @field_validator("candidates", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, values: list[str]) -> list[str]:
        refs = [v.strip() for v in values]
        if not 1 <= len(refs) <= MAX_CANDIDATES:
            raise ValueError(f"give 1 to {MAX_CANDIDATES} candidates, got {len(refs)}")
        if any(not r for r in refs):
            raise ValueError("a candidate must be a channel, release id or repo ref")
        if len(set(refs)) != len(refs):
            raise ValueError("a candidate is listed twice")
        return refs

    @field_validator("sample", "twin", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return strip_percent(value)

    @field_validator("sample")
    @classmethod
    def _sample(cls, value: float) -> float:
        return _share(value, "sample", allow_zero=True)

    @field_validator("twin")
    @classmethod
    def _twin(cls, value: float) -> float:
        return _share(value, "twin", allow_zero=True)

    @field_validator("condition")
    @classmethod
    def _condition(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                compile_condition(value, "condition")
            except FlagError as exc:
                raise ValueError(f"the condition does not compile: {exc.message}") from exc
        return value

    @field_validator("ends", mode="before")
    @classmethod
    def _ends(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return None if value is None else value.isoformat()
        if isinstance(value, str) and _iso(value) is not None:
            return value
        return parse_duration(value)  # ValueError names the accepted forms

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("timeout must be > 0")
        return seconds

    # -- derived -----------------------------------------------------------------------------

    @property
    def sample_bp(self) -> int:
        return round(self.sample * 100)

    @property
    def twin_bp(self) -> int:
        return round(self.twin * 100)

    def ends_at(self, started: float) -> float | None:
        """The end as epoch seconds for a shadow started at `started` (None: runs until stopped)."""
        if self.ends is None:
            return None
        if isinstance(self.ends, str):
            moment = _iso(self.ends)
            assert moment is not None  # checked by the validator
            return moment
        return started + float(self.ends)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _iso(text: str) -> float | None:
    """Epoch seconds of an ISO-8601 time (UTC unless it says otherwise), None if not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_FILES = DefinitionFiles(Definition, SHADOWS_DIR, noun="shadow")
check_name = _FILES.check_name
parse_definition = _FILES.parse
definition_from = _FILES.from_data
definition_path = _FILES.path
load_definition = _FILES.load
definition_names = _FILES.names  # the `shadows/*.yaml` stems, sorted


__all__ = [
    "SHADOWS_DIR",
    "Budget",
    "Definition",
    "check_name",
    "definition_from",
    "definition_names",
    "definition_path",
    "load_definition",
    "parse_definition",
]
