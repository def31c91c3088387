"""Text and JSON comparisons shared by the eval scorers and the shadow comparison.

Standard library only, so that `rampway shadow report` (which compares every answer of a
shadow) does not import the eval runner, the router and pydantic models to get them; the eval
scorers import them from here, under the same names.

    >>> normalize_text(' "Ｐaris!" '), loose_equal("12", 12.0), refusal_wording("I can't help")
    ('paris', True, True)
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_REFUSAL = re.compile(
    r"\b(i\s*(?:can(?:no|')t|cannot|am\s+(?:not\s+able|unable)|won't|will\s+not)\s+"
    r"(?:help|assist|provide|do|comply|answer|share)|i'?m\s+(?:sorry|afraid),?\s+(?:but\s+)?i\s+"
    r"(?:can(?:no|')t|cannot|am\s+unable)|as\s+an\s+ai\b[^.]*\b(?:cannot|can't))",
    re.IGNORECASE,
)


def normalize_text(text: str) -> str:
    """Case-, width- and whitespace-insensitive form; strips wrapping quotes and end punctuation."""
    if _single_spaced_ascii(text):  # NFKC and the whitespace collapse would change nothing
        text = text.casefold()
    else:  # split/join: the same runs of Unicode whitespace as re's \s+, several times faster
        text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return text.strip("\"'`").rstrip(".!?;:").strip()


def _single_spaced_ascii(text: str) -> bool:
    """ASCII without control characters (so no whitespace but ' '), no double, leading or
    trailing space: a fixed point of NFKC and of split/join, tested far faster than either
    runs (the shadow report normalizes every answer)."""
    return (text.isascii() and text.isprintable() and "  " not in text
            and text[:1] != " " and text[-1:] != " ")


def parse_json_output(content: str) -> Any:
    """Parse a JSON answer, tolerating a Markdown code fence around it. Raises ValueError."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    return json.loads(text)


def loose_equal(expected: Any, actual: Any, tolerance: float = 0.0) -> bool:
    """Equality that forgives what a reviewer would: case/whitespace, 12 vs 12.0, "12" vs 12."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected == actual)
    number_e, number_a = as_number(expected), as_number(actual)
    if number_e is not None and number_a is not None:
        return math.isclose(number_e, number_a, rel_tol=1e-9, abs_tol=max(tolerance, 1e-9))
    if isinstance(expected, str) and isinstance(actual, str):
        return normalize_text(expected) == normalize_text(actual)
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        same_keys = set(expected) == set(actual)
        return same_keys and all(loose_equal(expected[k], actual[k], tolerance) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            loose_equal(e, a, tolerance) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)


def as_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").strip().lstrip("$"))
        except ValueError:
            return None
    return None


def refusal_wording(text: str) -> bool:
    """The first 400 characters decline in so many words ("I can't help with that")."""
    return bool(_REFUSAL.search(text[:400]))


__all__ = ["as_number", "loose_equal", "normalize_text", "parse_json_output", "refusal_wording"]
