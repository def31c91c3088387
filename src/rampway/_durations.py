"""Durations (`90s`, `1h30m`, `2d`) and percentages (`"25%"`) as plan files write them.

Standard library only: rollout plans, experiment and shadow files parse them, and a shadow's
definition must not import the rollout package (its repository, allocations and webhooks) to
read one (`rampway shadow report` loads the shadow package).

    >>> parse_duration("1h30m"), strip_percent("25%")
    (5400.0, '25')
"""

from __future__ import annotations

import math
import re
from typing import Any

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?"
                       r"(?:(\d+(?:\.\d+)?)s)?")
_UNIT_SECONDS = (86400.0, 3600.0, 60.0, 1.0)


def strip_percent(value: Any) -> Any:
    """`"25%"` → `"25"` (a before-validator: the number is checked by `check_percent`)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1]
    return value


def check_percent(value: float, what: str) -> float:
    """A share of units in (0, 100] that maps to whole basis points (the buckets' unit)."""
    if not math.isfinite(value) or not 0 < value <= 100:
        raise ValueError(f"{what} must be a percentage in (0, 100]")
    if abs(value * 100 - round(value * 100)) > 1e-9:
        raise ValueError(f"{what} must be a whole number of basis points (0.01%)")
    return value


#: The longest duration anything accepts (a window, a dwell, an end): 100 years, far inside
#: what `timedelta` and `datetime` arithmetic can hold, so no caller can overflow on one.
MAX_DURATION = 100 * 365.25 * 86400


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `90s`, `30m`, `1h30m` or `2d`. Negative or empty is an error."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or text like 30m, 1h, 2d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        match = _DURATION.fullmatch(value.strip().lower())
        if match is None or not any(match.groups()):
            raise ValueError(f"invalid duration {value!r}: use e.g. 90s, 30m, 1h30m, 2d")
        seconds = sum(float(g) * u for g, u in zip(match.groups(), _UNIT_SECONDS, strict=True)
                      if g)
    else:
        raise ValueError("a duration must be a number of seconds or text like 30m, 1h, 2d")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite number of seconds >= 0")
    if seconds > MAX_DURATION:  # a `timedelta` or a date that far back would overflow
        raise ValueError(f"a duration must be at most 100 years, got {value!r}")
    return seconds


__all__ = ["MAX_DURATION", "check_percent", "parse_duration", "strip_percent"]
