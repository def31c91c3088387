"""Fixed log-spaced latency buckets, 1% wide: the histograms both roll-ups keep (the rollout
judge's, `rampway.rollout.rollup`, and the experiments', `rampway.experiments.rollup`), so
that a quantile read off one is read the same way off the other.

Bucket 0 is [0, LOW_MS), bucket k >= 1 is [LOW_MS R^(k-1), LOW_MS R^k), the last one also
holding everything above (~2.8 h) and values that are not numbers. Plain Python: the event
sink computes a request's bucket without numpy (`bucket_of_ms`); the judge's vectorised
`bucket_of` uses the same constants. `histogram_quantile` reads a quantile off a histogram,
each bucket's values taken as spread evenly in log over it: the error is at most one bucket,
1%.

    >>> k = bucket_of_ms(250.0)
    >>> lower_edge(k) <= 250.0 < lower_edge(k + 1)
    True
"""

from __future__ import annotations

import math
from typing import Any

LOW_MS = 0.1
RATIO = 1.01
LOG_RATIO = math.log(RATIO)
BUCKETS = math.ceil(math.log(1e7 / LOW_MS) / LOG_RATIO) + 1  # up to ~2.8 h, then clamped
#: The last bucket's lower edge: everything from here (infinity and NaN too) is in it —
#: decided before any logarithm, which a latency near the float's maximum would overflow.
TOP_MS = LOW_MS * RATIO ** (BUCKETS - 2)


def bucket_of_ms(ms: float) -> int:
    """The bucket of one latency (ms); NaN and infinity go to the last bucket (PostgreSQL
    sorts NaN above every number)."""
    if ms < LOW_MS:
        return 0
    if not ms < TOP_MS:  # also NaN
        return BUCKETS - 1
    return min(int(math.floor(math.log(ms / LOW_MS) / LOG_RATIO)) + 1, BUCKETS - 1)


def lower_edge(k: int) -> float:
    return 0.0 if k <= 0 else LOW_MS * RATIO ** (k - 1)


def position(ms: float, k: int) -> float:
    """Where `ms` lies inside its bucket `k`, from 0 (its lower edge) to 1, in log (bucket 0:
    linear)."""
    pos = ms / LOW_MS if k == 0 else math.log(ms / lower_edge(k)) / LOG_RATIO
    return min(max(pos, 0.0), 1.0)


def histogram_quantile(hist: Any, q: float) -> float:
    """The q-quantile of the values a histogram (a numpy array of BUCKETS counts) counts,
    each bucket's values taken as spread evenly (in log) over the bucket; NaN when empty."""
    import numpy as np  # here: the sink imports this module and must not load numpy

    n = float(hist.sum())
    if n <= 0:
        return math.nan
    rank = q * (n - 1)
    before = np.cumsum(hist) - hist
    k = int(np.searchsorted(before + hist, rank, side="right"))
    k = min(k, BUCKETS - 1)
    count = float(hist[k])
    frac = min(max((rank - float(before[k]) + 0.5) / count, 0.0), 1.0) if count else 0.0
    return LOW_MS * frac if k == 0 else lower_edge(k) * RATIO**frac


__all__ = ["BUCKETS", "LOG_RATIO", "LOW_MS", "RATIO", "TOP_MS", "bucket_of_ms",
           "histogram_quantile", "lower_edge", "position"]
