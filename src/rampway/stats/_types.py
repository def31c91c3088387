"""Result types shared by every statistic: an estimate with an interval and the sample sizes.

Convention everywhere in `rampway.stats`: differences are candidate minus baseline, ratios are
candidate over baseline. An interval of (-inf, inf) means "not enough data to say anything",
which downstream verdicts must read as INCONCLUSIVE, never as a pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Sample = Sequence[float] | NDArray[Any]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval at `level` (e.g. 0.95)."""

    estimate: float
    lower: float
    upper: float
    level: float
    method: str
    n: tuple[int, ...]
    p_value: float | None = None

    @property
    def informative(self) -> bool:
        """False when the interval is unbounded (not enough data)."""
        return math.isfinite(self.lower) and math.isfinite(self.upper)

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "level": self.level,
            "method": self.method,
            "n": list(self.n),
            "p_value": self.p_value,
        }


def unbounded(estimate: float, level: float, method: str, n: tuple[int, ...]) -> Interval:
    """The honest answer when the data can't bound the quantity."""
    return Interval(estimate, -math.inf, math.inf, level, method, n)


def as_array(sample: Sample, name: str) -> NDArray[np.float64]:
    """A 1-D float array of finite values; anything else is a programming error (ValueError)."""
    arr = np.asarray(sample, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be within (0, 1), got {level}")
    return float(level)
