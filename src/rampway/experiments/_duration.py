"""A runtime as people say it, one formatter for the analysis, its report and the CLI.

    >>> duration_text(20)
    '20 seconds'
    >>> duration_text(1_200), duration_text(3_600), duration_text(2.5 * 86_400)
    ('20 minutes', '1.0 hours', '2.5 days')

Standard library only: `rampway experiment status` must not import the statistics stack.
Each unit is used from where the next smaller one would round up to a full one of it, so a
runtime never reads "60 seconds" or "0.0 hours".
"""

from __future__ import annotations

import math

_MINUTE, _HOUR, _DAY = 60.0, 3_600.0, 86_400.0


def duration_text(seconds: float) -> str:
    """`2.5 days`, `3.0 hours`, `12 minutes`, `20 seconds` (`1 minute`, `1 second`); `?` if
    not a finite number."""
    if not math.isfinite(seconds):
        return "?"
    if seconds >= _DAY - 0.05 * _HOUR:
        return f"{seconds / _DAY:.1f} days"
    if seconds >= _HOUR - 0.5 * _MINUTE:
        return f"{seconds / _HOUR:.1f} hours"
    if seconds >= _MINUTE - 0.5:
        minutes = round(seconds / _MINUTE)
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    whole = round(seconds)
    return f"{whole} second" + ("" if whole == 1 else "s")


__all__ = ["duration_text"]
