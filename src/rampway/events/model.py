"""The two kinds of event rows: one per served request, one per outcome (feedback).

Plain slotted dataclasses: they are built on the request path and only turned into rows by the
writer thread, so construction must cost next to nothing.

`RequestEvent.flags` records the flags evaluated for the request (for A/B analysis and rollout
debugging, as LaunchDarkly and GrowthBook attach evaluations to their analytics events). On the
request path it holds what the resolution produced — flag key → `rampway.flags.Evaluation`,
objects the compiled flags share between calls, so recording them allocates nothing — and the
writer thread turns each into the stored JSON `flag_record`:

    {"support-bot.model": {"value": "sim-small", "reason": "TARGETING_MATCH", "rule": 0},
     "support-bot.max_tokens": {"value": 1000, "reason": "DEFAULT", "rule": null}}

`rule` is the 0-based index of the deciding rule (null for defaults); `variant` (a split's
variation, a rule's label) and `error` (an OpenFeature error code) appear only when set. Only
flags actually evaluated are recorded, including those that came out at their default: "no rule
matched" (DEFAULT), "no rules" (STATIC) and "flag switched off" (DISABLED) are answers too. A
request whose feature has no flags stores NULL.

Example:
    ev = RequestEvent(id="req_1", ts=time.time(), feature="support-bot",
                      release_id="support-bot@3f2a9c1e")
    writer.emit(ev)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from rampway.errors import ConfigError

UNIT_HASH_CHARS = 32
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_CHARS = 200


@dataclass(slots=True)
class RequestEvent:
    """One served (or refused) request. Text fields are None unless retention allows them."""

    id: str
    ts: float
    feature: str
    release_id: str | None = None
    arm: str | None = None
    unit_hash: str | None = None
    attributes: dict[str, Any] | None = None
    source: str = "gateway"  # gateway | sdk
    protocol: str = "openai"  # openai | anthropic | responses | sdk
    stream: bool = False
    provider: str | None = None
    model: str | None = None  # requested (the route's target)
    served_model: str | None = None  # what the provider says answered (response `model`)
    system_fingerprint: str | None = None  # OpenAI's backend configuration id, where given
    attempts: int = 0
    fallback_used: bool = False
    hedged: bool = False  # a hedged second request was sent; provider/model answered
    status: str = "ok"  # ok | error
    http_status: int = 200
    error_code: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    refusal: bool = False
    finish_reason: str | None = None
    output_chars: int = 0
    prompt_text: str | None = None
    response_text: str | None = None
    flags: Mapping[str, FlagOutcome | Mapping[str, Any]] | None = None
    # [{"name", "arguments"}…]; arguments only where texts are kept (see gateway.eventlog)
    tool_calls: list[dict[str, str]] | None = None
    session_hash: str | None = None  # the session unit, hashed like unit_hash (the user unit)

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row["flags"] = flag_records(self.flags)
        return row


@dataclass(slots=True)
class FeedbackEvent:
    """One outcome: a named numeric value about a request or a unit (thumbs, conversion, …)."""

    id: str
    ts: float
    name: str
    value: float
    request_id: str | None = None
    unit_hash: str | None = None
    feature: str | None = None
    attributes: dict[str, Any] | None = field(default=None)
    session_hash: str | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)


class FlagOutcome(Protocol):
    """What the event log reads off one flag evaluation (`rampway.flags.Evaluation` is one)."""

    @property
    def value(self) -> Any: ...
    @property
    def variant(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def rule_index(self) -> int | None: ...


def flag_record(outcome: FlagOutcome) -> dict[str, Any]:
    """The stored form of one evaluation: value, reason, rule (+ variant, error when set).

    Example:
        flag_record(fs.evaluate("support-bot.model", {"plan": "free"}))
        # {"value": "sim-small", "reason": "TARGETING_MATCH", "rule": 0}
    """
    record = {"value": outcome.value, "reason": str(outcome.reason), "rule": outcome.rule_index}
    if outcome.variant is not None:
        record["variant"] = outcome.variant
    if outcome.error_code is not None:
        record["error"] = str(outcome.error_code)
    return record


def flag_records(
    flags: Mapping[str, FlagOutcome | Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]] | None:
    """`RequestEvent.flags` in its stored form (records already in that form are kept)."""
    if flags is None:
        return None
    return {
        key: dict(o) if isinstance(o, Mapping) else flag_record(o) for key, o in flags.items()
    }


def hash_unit(unit: str | None) -> str | None:
    """Stable, non-reversible unit id for the event log (user units and session ids alike:
    they go to separate columns, `unit_hash` and `session_hash`).

    Every gateway and SDK process must produce the same value for the same unit so that requests
    and feedback can be joined per unit, hence a plain (domain-separated) SHA-256, no secret salt.
    `surrogatepass` encodes a lone surrogate (which the gateway refuses, but an SDK caller may
    pass) instead of raising; every valid string encodes exactly as plain UTF-8.
    """
    if unit is None:
        return None
    data = unit.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(b"rampway-unit\x00" + data).hexdigest()
    return digest[:UNIT_HASH_CHARS]


def select_attributes(
    attributes: Mapping[str, Any] | None, keep: Iterable[str] | None = None
) -> dict[str, Any] | None:
    """The subset of targeting attributes worth storing: bounded in count and size.

    `keep` (from config) lists the attribute names to store; None stores the first
    MAX_ATTRIBUTES scalar attributes. Long strings are cut so one client cannot bloat the log.
    """
    if not attributes:
        return None
    names = list(keep) if keep is not None else list(attributes)[:MAX_ATTRIBUTES]
    out: dict[str, Any] = {}
    for name in names:
        if name not in attributes:
            continue
        value = attributes[name]
        if isinstance(value, str):
            value = value[:MAX_ATTRIBUTE_CHARS]
        elif not isinstance(value, int | float | bool) and value is not None:
            value = str(value)[:MAX_ATTRIBUTE_CHARS]
        out[name] = value
    return out or None


class Redactor:
    """Replaces every match of the configured patterns with `[REDACTED]` before text is stored.

    Example:
        Redactor([r"\\b\\d{16}\\b"]).redact("card 4111111111111111") == "card [REDACTED]"
    """

    __slots__ = ("_pattern",)

    def __init__(self, patterns: Iterable[str]) -> None:
        parts = []
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"retention.redact: invalid pattern {pattern!r}: {exc}") from exc
            parts.append(f"(?:{pattern})")
        self._pattern = re.compile("|".join(parts)) if parts else None

    def redact(self, text: str | None) -> str | None:
        if text is None or self._pattern is None:
            return text
        return self._pattern.sub("[REDACTED]", text)


__all__ = [
    "FeedbackEvent",
    "FlagOutcome",
    "Redactor",
    "RequestEvent",
    "flag_record",
    "flag_records",
    "hash_unit",
    "select_attributes",
]
