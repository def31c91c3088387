"""What a shadow comparison reads: pairs of answers to the same real request.

A *pair* is one production request (the primary side, which was served) and one mirrored call
that was never served: either the *candidate* (the release under test) or, for a sampled
fraction, a *twin* (the primary's own release asked a second time — Diffy's noise floor). The
capture side (gateway/SDK hook → `shadow_pairs` rows) builds these; the comparison, the noise
floor and the report are pure functions over them, testable without network or database.

Example:
    primary = Answer(status="ok", latency_ms=420.0, output_tokens=80, text="Your order ships…")
    shadow = Answer(status="ok", latency_ms=510.0, output_tokens=190, text="Thanks for asking!…")
    pair = Pair(shadow="v3-vs-prod", request_id="req_1", unit_hash="ab12…", ts=1.7e9,
                kind="candidate", release_id="support-bot@3f2a9c1e", primary=primary,
                mirrored=shadow)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

PairKind = Literal["candidate", "twin"]


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """Each field's slot setter of a `slots=True` dataclass, in field order.

    A report builds 100k+ frozen objects; their `__init__` sets each field through
    `object.__setattr__`, the slots' own setters do the same faster. Callers unpack the tuple
    into one name per field, so a field added to the class without a setter name fails at
    import instead of leaving the field unset."""
    return tuple(cls.__dict__[field.name].__set__ for field in fields(cls))


@dataclass(frozen=True, slots=True)
class ToolUse:
    """One tool call an answer made: the tool's name and its arguments as JSON text."""

    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class Answer:
    """One side of a pair, as the event log records a served call.

    `text` is None when texts are not kept (then only the numeric and structural comparisons
    apply). `status` is "ok" or "error"; `error_code` is rampway's code (e.g. "timeout").
    """

    status: str = "ok"
    error_code: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    finish_reason: str | None = None
    refusal: bool = False
    tool_calls: tuple[ToolUse, ...] = ()
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Pair:
    """A primary (served) answer and a mirrored one to the same request."""

    shadow: str
    request_id: str
    unit_hash: str | None
    ts: float
    kind: PairKind
    release_id: str  # the release that produced `mirrored`
    primary: Answer
    mirrored: Answer
    request_excerpt: str | None = None  # the last user message, cut and redacted, when kept


__all__ = ["Answer", "Pair", "PairKind", "ToolUse"]
