"""Side-by-side histograms for the shadow report: one set of bins for both sides.

A p50/p95 delta says "slower"; a histogram says *how*: a shifted hump, a longer tail, a second
mode (the candidate's tool calls answering fast, its long texts slow). Both sides share the bins
so the bars compare directly. Latency and cost are skewed with rare huge values, so the bins span
the pooled range up to the 99th percentile and the last bin is open (`≥ its lower edge`): one
outlier cannot squeeze every other request into the first bar.

    h = histogram("latency_ms", primary_ms, candidate_ms)
    print("\n".join(render_rows(h, fmt=lambda x: f"{x:,.0f}")))
    #              primary (420)         candidate (420)
    #     0– 180   ██████▌        31%   ███            14%
    #   180– 360   ████████▏      39%   ███████▋       36%
    #      ≥ 900   ▏               1%   █▍              6%
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

BINS = 10
TAIL_QUANTILE = 0.99
BAR_WIDTH = 14
_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts per bin for each side. `edges` has one more entry than each count list; the last
    bin is open above (values over `edges[-1]` are counted in it) when `open_top`."""

    metric: str
    edges: tuple[float, ...]
    primary: tuple[int, ...]
    candidate: tuple[int, ...]
    open_top: bool

    @property
    def empty(self) -> bool:
        return not self.primary and not self.candidate

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "edges": list(self.edges), "open_top": self.open_top,
                "primary": list(self.primary), "candidate": list(self.candidate)}


def histogram(metric: str, primary: NDArray[np.float64], candidate: NDArray[np.float64],
              bins: int = BINS) -> Histogram:
    """Counts of both sides over shared bins (non-finite values are left out). Pure."""
    a, b = primary[np.isfinite(primary)], candidate[np.isfinite(candidate)]
    pooled = np.concatenate([a, b])
    if pooled.size == 0:
        return Histogram(metric, (), (), (), open_top=False)
    low, top = float(pooled.min()), float(pooled.max())
    high = float(np.quantile(pooled, TAIL_QUANTILE))
    open_top = high < top
    if not open_top:
        high = top
    if high <= low:  # every value equal: one bin around it
        return Histogram(metric, (low, low), (a.size,), (b.size,), open_top=False)
    edges = np.linspace(low, high, bins + 1)
    return Histogram(metric, tuple(float(e) for e in edges), _counts(a, edges),
                     _counts(b, edges), open_top)


def _counts(values: NDArray[np.float64], edges: NDArray[np.float64]) -> tuple[int, ...]:
    """np.histogram's bins with everything above the last edge in the last bin."""
    counts, _ = np.histogram(np.minimum(values, edges[-1]), bins=edges)
    return tuple(int(c) for c in counts)


def _bar(share: float, scale: float, width: int = BAR_WIDTH) -> str:
    """A bar of `share / scale` of `width` cells in eighths of a cell; a non-zero share shows
    at least a sliver so "a few" never reads as "none"."""
    eighths = round(share / scale * width * 8) if scale > 0 else 0
    if share > 0:
        eighths = max(eighths, 1)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)


def _label(h: Histogram, i: int, fmt: Callable[[float], str]) -> str:
    if h.open_top and i == len(h.primary) - 1:
        return f"≥ {fmt(h.edges[i])}"
    return f"{fmt(h.edges[i])}–{fmt(h.edges[i + 1])}"


def render_rows(h: Histogram, fmt: Callable[[float], str]) -> list[str]:
    """A header naming the sides and their counts, then one line per bin: its range, each
    side's bar and share of its requests, bars on one scale (the largest share fills the
    width)."""
    if h.empty:
        return []
    na, nb = sum(h.primary), sum(h.candidate)
    shares = [(pa / na if na else 0.0, pb / nb if nb else 0.0)
              for pa, pb in zip(h.primary, h.candidate, strict=True)]
    scale = max(max(s) for s in shares)
    labels = [_label(h, i, fmt) for i in range(len(shares))]
    width = max(len(x) for x in labels)
    head = f"{''.rjust(width)}   {f'primary ({na})'.ljust(BAR_WIDTH + 5)}   candidate ({nb})"
    return [head, *(f"{label.rjust(width)}   {_bar(sa, scale)} {_share(sa)}   "
                    f"{_bar(sb, scale)} {_share(sb)}".rstrip()
                    for label, (sa, sb) in zip(labels, shares, strict=True))]


def _share(x: float) -> str:
    return f"{x:4.0%}" if math.isfinite(x) else "   –"


__all__ = ["Histogram", "histogram", "render_rows"]
