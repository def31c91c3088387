"""Flag, rule and segment models, and the evaluation result (OpenFeature's vocabulary).

`Reason` and `ErrorCode` use OpenFeature's names so a provider maps them 1:1:

    STATIC           the flag has no rules: its default is the only possible value
    TARGETING_MATCH  a rule without a split matched
    SPLIT            a rule with a percentage or variations matched (pseudorandom by unit)
    DEFAULT          rules exist but none matched: the flag default
    DISABLED         the flag is switched off (`enabled: false`): the flag default
    ERROR            see `error_code`; the value is the flag default when the flag is known,
                     else None

    FLAG_NOT_FOUND        no flag with that key
    TYPE_MISMATCH         the caller asked for another type than the flag's
    PARSE_ERROR           for layers holding a definition they could not compile (never
                          produced by a compiled FlagSet: broken definitions are refused)
    TARGETING_KEY_MISSING no rule matched, and a split rule was skipped for want of a unit
    INVALID_CONTEXT       the context is not a mapping or the unit not a string
    GENERAL               an unexpected failure (evaluation never raises)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FlagType(StrEnum):
    BOOL = "bool"
    STRING = "string"
    NUMBER = "number"
    JSON = "json"


class Reason(StrEnum):
    STATIC = "STATIC"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DEFAULT = "DEFAULT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one evaluation. Instances are shared between calls: treat as read-only.

    `rule_index` is the 0-based index of the rule that decided (or was skipped, for
    TARGETING_KEY_MISSING); None for defaults and errors.
    """

    value: Any
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    rule_index: int | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A reusable audience: a condition, or a list of ids matched on an attribute.

    With `ids` and no `attribute`, the ids are matched against the evaluation unit.
    """

    key: str
    condition: dict[str, Any] | None = None
    ids: frozenset[str] | None = None
    attribute: str | None = None


@dataclass(frozen=True, slots=True)
class Variation:
    """One arm of a split rule; `weight_bp` in basis points of the rule's units."""

    value: Any
    weight_bp: int
    name: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One targeting rule: all of condition and segments must hold, then the split (if any).

    `percentage_bp` alone is a rollout: units in `[0, percentage_bp)` get `value`, the others
    fall through to the next rule. With `variations`, units are split by their weights and
    `percentage_bp` (default 10000) is the share of units entering the split, laid out so that
    raising it keeps every unit's variation (see `rampway.assign.Allocation`). Units are hashed
    by `hash_by` (a context path) or else by the evaluation unit, under `salt`.
    """

    condition: dict[str, Any] | None
    segments: tuple[str, ...]
    value: Any
    variant: str | None
    percentage_bp: int | None
    variations: tuple[Variation, ...]
    salt: str
    hash_by: str | None


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    type: FlagType
    default: Any
    rules: tuple[Rule, ...]
    enabled: bool = True
    description: str = ""
