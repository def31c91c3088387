"""A shadow's report: what the candidate would have done differently on real traffic.

`build_report(pairs, name=...)` compares every pair (`compare`), judges each difference class
against the noise floor (`noise`), and adds what a reviewer asks next: three side-by-side
exemplars per flagged class, the failure modes of each side, and the latency (p50, p95) and
cost-per-request deltas with intervals clustered by unit. It ends in a one-line verdict:

    no difference beyond noise                 nothing flagged
    3 classes differ: verbosity:longer_2x, …   the flagged classes
    inconclusive: …                            no candidate pairs, or too few units to judge

`render_text`, `render_markdown` and `ShadowReport.to_json()` present the same report for a
terminal, a pull request and tools (stable keys; NaN and infinities become null).

    report = build_report(pairs, name="v3-vs-prod", shed=12)
    print(render_text(report))
"""

from __future__ import annotations

import gc
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from rampway.errors import ConfigError
from rampway.shadow.compare import (
    DEFAULT_THRESHOLDS,
    FAILURE_KINDS,
    TOKEN_SET,
    Comparison,
    TextSimilarity,
    Thresholds,
    compare_many,
)
from rampway.shadow.histogram import Histogram, histogram, render_rows
from rampway.shadow.model import Answer, Pair
from rampway.shadow.noise import DEFAULT_MARGINS, ClassRate, Margins, NoiseFloor, noise_floor
from rampway.shadow.record import ShadowRecord
from rampway.stats import Interval, cluster_quantile_woodruff, ratio_summary
from rampway.stats._dist import norm_ppf

EXEMPLARS = 3
EXCERPT_CHARS = 280

Excerpts = Callable[[Sequence[str]], Mapping[str, str | None]]  # request ids → their excerpts


class Verdict(StrEnum):
    CLEAN = "no difference beyond noise"
    DIFFERENT = "differs"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One pair side by side, each text cut to `EXCERPT_CHARS`."""

    request_id: str
    unit_hash: str | None
    request: str | None
    primary: str
    candidate: str

    def to_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "unit_hash": self.unit_hash,
                "request": self.request, "primary": self.primary, "candidate": self.candidate}


@dataclass(frozen=True, slots=True)
class FlaggedClass:
    rate: ClassRate
    exemplars: tuple[Exemplar, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.rate.to_json(), "exemplars": [e.to_json() for e in self.exemplars]}


@dataclass(frozen=True, slots=True)
class FailureMode:
    """How often each side failed this way (rates over its pairs; twin None without twins)."""

    kind: str
    primary: int
    candidate: int
    twin: int | None
    primary_rate: float
    candidate_rate: float
    twin_rate: float | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "primary": self.primary, "candidate": self.candidate,
                "twin": self.twin, "primary_rate": self.primary_rate,
                "candidate_rate": self.candidate_rate, "twin_rate": self.twin_rate}


@dataclass(frozen=True, slots=True)
class Delta:
    """A per-request quantity on both sides of the candidate pairs and the interval of the
    difference (candidate - primary), clustered by unit."""

    metric: str
    primary: float
    candidate: float
    difference: Interval

    @property
    def relative(self) -> float:
        return self.candidate / self.primary - 1 if self.primary else math.nan

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "primary": self.primary, "candidate": self.candidate,
                "relative": self.relative, "difference": self.difference.as_dict()}


@dataclass(frozen=True, slots=True)
class ShadowReport:
    name: str
    candidate_pairs: int
    twin_pairs: int
    units: int
    shed: int
    over_budget: int
    releases: tuple[tuple[str, int], ...]  # candidate release id → pairs
    noise: NoiseFloor
    flagged: tuple[FlaggedClass, ...]
    failure_modes: tuple[FailureMode, ...]
    latency: tuple[Delta, ...]  # p50, p95 in ms, over pairs where both sides answered
    cost: Delta  # USD per request
    similarity: tuple[float | None, float | None]  # median text similarity: candidate, twin
    verdict: Verdict
    verdict_line: str
    histograms: tuple[Histogram, ...] = ()  # latency_ms, cost_per_request_usd: both sides
    similarity_method: str = TOKEN_SET.name  # how texts were scored: token_set | embedding

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = _clean({
            "name": self.name,
            "verdict": self.verdict.value,
            "verdict_line": self.verdict_line,
            "pairs": {"candidate": self.candidate_pairs, "twin": self.twin_pairs,
                      "units": self.units},
            "shed": self.shed,
            "over_budget": self.over_budget,
            "releases": [{"release_id": r, "pairs": n} for r, n in self.releases],
            "noise_floor": {"source": self.noise.source, "note": self.noise.note,
                            "level_per_class": self.noise.level,
                            "margins": self.noise.margins.to_json()},
            "flagged": [f.to_json() for f in self.flagged],
            "classes": [c.to_json() for c in self.noise.classes],
            "failure_modes": [f.to_json() for f in self.failure_modes],
            "latency_ms": {d.metric: d.to_json() for d in self.latency},
            "cost_per_request_usd": self.cost.to_json(),
            "text_similarity_median": {"method": self.similarity_method,
                                       "candidate": self.similarity[0],
                                       "twin": self.similarity[1]},
            "histograms": {h.metric: h.to_json() for h in self.histograms},
        })
        return doc


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# ------------------------------------------------------------------------------- building


def _unit(pair: Pair) -> Hashable:
    """Requests without a unit are their own unit."""
    return pair.unit_hash if pair.unit_hash is not None else ("request", pair.request_id)


SIMILARITY_METHODS = ("token_set", "embedding")


def text_similarity(method: str) -> TextSimilarity:
    """The scorer a shadow's `similarity:` names (ConfigError if `embedding` and the extra is
    not installed)."""
    if method == "embedding":
        from rampway.shadow.embeddings import EmbeddingSimilarity

        return EmbeddingSimilarity()
    if method != TOKEN_SET.name:
        raise ConfigError(f"similarity: expected one of {', '.join(SIMILARITY_METHODS)}, "
                          f"got {method!r}")
    return TOKEN_SET


def similarity_of(record: ShadowRecord) -> TextSimilarity:
    """The scorer of a started shadow (its definition as it was at the start)."""
    return text_similarity(str(record.definition.get("similarity") or TOKEN_SET.name))


def build_report(pairs: Iterable[Pair], *, name: str, shed: int = 0, over_budget: int = 0,
                 margins: Margins = DEFAULT_MARGINS,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS,
                 similarity: TextSimilarity = TOKEN_SET,
                 excerpts: Excerpts | None = None) -> ShadowReport:
    """Compare every pair, judge the classes against the noise floor, summarize. Pure (given
    a pure `similarity`; an embedding scorer first embeds the texts to compare, in batches).

    `excerpts`, when given, supplies the request excerpts of the exemplars shown (called once,
    with their request ids) in place of the pairs' own `request_excerpt`: pairs read without
    their prompts (`load_pairs(..., excerpts=False)`) then give the same report."""
    with _collector_paused():
        return _build(pairs, name, shed, over_budget, margins, thresholds, similarity,
                      excerpts)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a report is built: reading and comparing
    100k pairs allocates over a million objects that live until the end, and the collector
    rescanned them again and again: a fifth of the report's CPU. Reference counting still frees
    what the report drops (it builds no reference cycles); a nested or concurrent call leaves
    the collector as it found it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(pairs: Iterable[Pair], name: str, shed: int, over_budget: int, margins: Margins,
           thresholds: Thresholds, similarity: TextSimilarity,
           excerpts: Excerpts | None) -> ShadowReport:
    candidate: list[Pair] = []
    twin: list[Pair] = []
    for pair in pairs:
        (twin if pair.kind == "twin" else candidate).append(pair)
    found = compare_many([*candidate, *twin], thresholds, similarity=similarity)
    cand_cmp, twin_cmp = found[:len(candidate)], found[len(candidate):]
    cand_classes = [c.classes for c in cand_cmp]
    cand_units = [_unit(p) for p in candidate]
    noise = noise_floor(cand_classes, cand_units, [c.classes for c in twin_cmp],
                        [_unit(p) for p in twin], margins,
                        candidate_scopes=[c.scopes for c in cand_cmp],
                        twin_scopes=[c.scopes for c in twin_cmp])
    shown = [(rate, _exemplars(rate.name, candidate, cand_classes)) for rate in noise.flagged]
    found_excerpts = excerpts([candidate[i].request_id for _, picked in shown for i in picked]
                              ) if excerpts is not None and shown else None
    flagged = tuple(FlaggedClass(rate, tuple(_exemplar(candidate[i], found_excerpts)
                                             for i in picked)) for rate, picked in shown)
    verdict, line = _verdict(noise, flagged)
    latency, latency_hist = _latency(candidate, cand_units, margins.level)
    cost, cost_hist = _cost(candidate, cand_units, margins.level)
    return ShadowReport(
        name=name,
        candidate_pairs=len(candidate),
        twin_pairs=len(twin),
        units=len(set(cand_units) | {_unit(p) for p in twin}),
        shed=shed,
        over_budget=over_budget,
        releases=tuple(Counter(p.release_id for p in candidate).most_common()),
        noise=noise,
        flagged=flagged,
        failure_modes=_failure_modes(cand_cmp, twin_cmp),
        latency=latency,
        cost=cost,
        similarity=(_median_similarity(cand_cmp), _median_similarity(twin_cmp)),
        verdict=verdict,
        verdict_line=line,
        histograms=(latency_hist, cost_hist),
        similarity_method=similarity.name,
    )


def _verdict(noise: NoiseFloor, flagged: Sequence[FlaggedClass]) -> tuple[Verdict, str]:
    if flagged:
        names = ", ".join(f.rate.name for f in flagged)
        n = len(flagged)
        return Verdict.DIFFERENT, f"{n} {'classes differ' if n > 1 else 'class differs'}: {names}"
    if noise.candidate_pairs == 0:
        return Verdict.INCONCLUSIVE, "inconclusive: no candidate pairs yet"
    if noise.candidate_units < 2 or (noise.source == "twin" and noise.twin_units < 2):
        return Verdict.INCONCLUSIVE, "inconclusive: too few units to tell noise from difference"
    floor = "twin" if noise.source == "twin" else f"fixed {noise.margins.fixed_floor:.0%}"
    return Verdict.CLEAN, (f"no difference beyond noise ({noise.candidate_pairs} candidate "
                           f"pairs; {floor} floor)")


def _exemplars(name: str, pairs: Sequence[Pair],
               classes: Sequence[frozenset[str]]) -> list[int]:
    """Up to three pairs showing the class, from distinct units where possible (indices)."""
    chosen: list[int] = []
    extra: list[int] = []
    seen: set[Hashable] = set()
    for i, found in enumerate(classes):
        if name not in found:
            continue
        unit = _unit(pairs[i])
        if unit not in seen:
            seen.add(unit)
            chosen.append(i)
            if len(chosen) == EXEMPLARS:
                break
        elif len(extra) < EXEMPLARS:
            extra.append(i)
    return sorted((chosen + extra)[:EXEMPLARS])


def _exemplar(pair: Pair, excerpts: Mapping[str, str | None] | None) -> Exemplar:
    found = pair.request_excerpt if excerpts is None else excerpts.get(pair.request_id)
    request = _cut(found) if found is not None else None
    return Exemplar(pair.request_id, pair.unit_hash, request, describe(pair.primary),
                    describe(pair.mirrored))


def _cut(text: str, limit: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def describe(answer: Answer) -> str:
    """An answer as a reviewer reads it: its text, its tool calls, or how it failed."""
    if answer.status != "ok":
        return f"[{answer.status}: {answer.error_code or 'unknown error'}]"
    parts: list[str] = []
    if answer.refusal:
        parts.append("[refused]")
    if answer.text:
        parts.append(answer.text)
    parts.extend(f"→ {c.name}({c.arguments})" for c in answer.tool_calls)
    if answer.finish_reason == "length":
        parts.append("[truncated]")
    if not parts:
        parts.append("[empty]" if answer.text is not None else
                     f"[text not kept; {answer.output_tokens} output tokens]")
    return _cut(" ".join(parts))


def _failure_modes(candidate: Sequence[Comparison],
                   twin: Sequence[Comparison]) -> tuple[FailureMode, ...]:
    prim = Counter(k for c in candidate for k in c.primary_failures)
    cand = Counter(k for c in candidate for k in c.mirrored_failures)
    tw = Counter(k for c in twin for k in c.mirrored_failures)
    nc, nt = len(candidate), len(twin)
    rows = []
    for kind in (*FAILURE_KINDS, "refusal"):
        if not (prim[kind] or cand[kind] or tw[kind]):
            continue
        rows.append(FailureMode(kind, prim[kind], cand[kind], tw[kind] if nt else None,
                                _rate(prim[kind], nc), _rate(cand[kind], nc),
                                _rate(tw[kind], nt) if nt else None))
    return tuple(rows)


def _rate(count: int, n: int) -> float:
    return count / n if n else math.nan


def _latency(pairs: Sequence[Pair], units: Sequence[Hashable], level: float
             ) -> tuple[tuple[Delta, ...], Histogram]:
    both = [i for i, p in enumerate(pairs)
            if p.primary.status == "ok" and p.mirrored.status == "ok"]
    a = np.fromiter((pairs[i].primary.latency_ms for i in both), np.float64, len(both))
    b = np.fromiter((pairs[i].mirrored.latency_ms for i in both), np.float64, len(both))
    labels = _dense([units[i] for i in both])
    out = []
    for q in (0.5, 0.95):
        metric = f"p{q * 100:g}"
        if not both:
            out.append(Delta(metric, math.nan, math.nan,
                             Interval(math.nan, -math.inf, math.inf, level, "none", (0, 0))))
            continue
        cmp = cluster_quantile_woodruff(a, labels, b, labels, q, level=level)
        out.append(Delta(metric, float(np.quantile(a, q)), float(np.quantile(b, q)),
                         cmp.difference))
    return tuple(out), histogram("latency_ms", a, b)


def _dense(units: Sequence[Hashable]) -> np.ndarray[Any, np.dtype[np.intp]]:
    keys: dict[Hashable, int] = {}
    return np.fromiter((keys.setdefault(u, len(keys)) for u in units), np.intp, len(units))


def _cost(pairs: Sequence[Pair], units: Sequence[Hashable], level: float
          ) -> tuple[Delta, Histogram]:
    """Mean cost per request, candidate - primary, paired per request and clustered by unit
    (the delta method over per-unit sums of the paired differences)."""
    n = len(pairs)
    a = np.fromiter((p.primary.cost_usd for p in pairs), np.float64, n)
    b = np.fromiter((p.mirrored.cost_usd for p in pairs), np.float64, n)
    labels = _dense(units)
    k = int(labels.max()) + 1 if n else 0
    diff = ratio_summary(np.bincount(labels, weights=b - a, minlength=k),
                         np.bincount(labels, minlength=k).astype(np.float64))
    est = float((b - a).mean()) if n else math.nan
    method = "paired-delta-cluster"
    if diff.n < 2 or not math.isfinite(diff.variance):
        interval = Interval(est, -math.inf, math.inf, level, method, (k,))
    else:
        half = norm_ppf((1 + level) / 2) * math.sqrt(diff.variance / diff.n)
        interval = Interval(est, est - half, est + half, level, method, (k,))
    delta = Delta("cost_per_request_usd", float(a.mean()) if n else math.nan,
                  float(b.mean()) if n else math.nan, interval)
    return delta, histogram("cost_per_request_usd", a, b)


def _median_similarity(comparisons: Sequence[Comparison]) -> float | None:
    values = [c.similarity for c in comparisons if c.similarity is not None]
    return float(np.median(values)) if values else None


# ------------------------------------------------------------------------------- text


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _ratio(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _pp(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:+.1f}pp"


def _span(i: Interval, fmt: Any) -> str:
    if not i.informative:
        return "unbounded"
    return f"[{fmt(i.lower)}, {fmt(i.upper)}]"


def _ms(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:,.0f} ms"


def _signed_ms(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:+,.0f} ms"


def _usd(x: float) -> str:
    return "–" if not math.isfinite(x) else f"${x:.6f}"


def _signed_usd(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{'+' if x >= 0 else '-'}${abs(x):.6f}"


def _rel(x: float) -> str:
    return "" if not math.isfinite(x) else f" ({x:+.0%})"


def _header(r: ShadowReport) -> list[str]:
    releases = ", ".join(f"{rid} ({n})" for rid, n in r.releases) or "none"
    return [
        f"shadow {r.name}: {r.verdict_line}",
        f"pairs compared: {r.candidate_pairs} candidate, {r.twin_pairs} twin, {r.units} units; "
        f"shed {r.shed}, over budget {r.over_budget}",
        f"candidate releases: {releases}",
        f"noise floor: {r.noise.note}",
        f"text similarity ({r.similarity_method}): median {_ratio(r.similarity[0])} candidate, "
        f"{_ratio(r.similarity[1])} twin",
        f"margins: flagged when ≥ {r.noise.margins.absolute * 100:g}pp and "
        f"≥ {1 + r.noise.margins.relative:g}× the floor, interval above 0",
    ]


def _delta_rows(r: ShadowReport) -> list[tuple[str, str, str, str, str]]:
    rows = [(f"latency {d.metric}", _ms(d.primary), _ms(d.candidate),
             _signed_ms(d.difference.estimate) + _rel(d.relative),
             _span(d.difference, _signed_ms)) for d in r.latency]
    c = r.cost
    rows.append(("cost / request", _usd(c.primary), _usd(c.candidate),
                 _signed_usd(c.difference.estimate) + _rel(c.relative),
                 _span(c.difference, _signed_usd)))
    return rows


def _class_rows(classes: Sequence[ClassRate]) -> list[tuple[str, ...]]:
    return [(c.name, c.scope, f"{_pct(c.candidate_rate)} ({c.candidate_count}/{c.candidate_pairs})",
             _pct(c.floor_rate) + (f" ({c.floor_count}/{c.floor_pairs})"
                                   if c.floor_count is not None else " fixed"),
             _pp(c.difference.estimate), _span(c.difference, _pp),
             "FLAGGED" if c.flagged else "") for c in classes]


def _failure_rows(r: ShadowReport) -> list[tuple[str, ...]]:
    return [(f.kind, f"{_pct(f.primary_rate)} ({f.primary})",
             f"{_pct(f.candidate_rate)} ({f.candidate})",
             "–" if f.twin is None else f"{_pct(f.twin_rate)} ({f.twin})")
            for f in r.failure_modes]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(row) for row in rows)]


CLASS_HEAD = ("class", "among", "candidate", "floor", "difference", "interval", "")
FAILURE_HEAD = ("failure", "primary", "candidate", "twin")
DELTA_HEAD = ("", "primary", "candidate", "difference", "interval")
SHOWN_CLASSES = 15


def render_text(report: ShadowReport) -> str:
    """The report for a terminal: verdict first, then the classes, exemplars, failures, deltas."""
    out = _header(report)
    shown = report.noise.classes[:SHOWN_CLASSES]
    if shown:
        out += ["", "difference classes (rates among pairs; floor = twin rate):",
                *_table(CLASS_HEAD, _class_rows(shown))]
        if len(report.noise.classes) > len(shown):
            out.append(f"… {len(report.noise.classes) - len(shown)} more (see --format json)")
    for f in report.flagged:
        out += ["", f"{f.rate.name}: {f.rate.reason}"]
        for e in f.exemplars:
            out.append(f"  request {e.request_id}: {_one_line(e.request or '(not kept)')}")
            out.append(f"    primary:   {_one_line(e.primary)}")
            out.append(f"    candidate: {_one_line(e.candidate)}")
    if report.failure_modes:
        out += ["", "failure modes (share of each side's answers):",
                *_table(FAILURE_HEAD, _failure_rows(report))]
    out += ["", f"latency and cost (candidate - primary, {report.noise.margins.level:.0%} "
                "intervals clustered by unit):", *_table(DELTA_HEAD, _delta_rows(report))]
    for title, rows in _histogram_blocks(report):
        out += ["", f"{title}:", *rows]
    return "\n".join(out) + "\n"


HISTOGRAM_TITLES = {"latency_ms": "latency per request, ms (pairs where both sides answered)",
                    "cost_per_request_usd": "cost per request, USD"}


def _histogram_blocks(report: ShadowReport) -> list[tuple[str, list[str]]]:
    """(title, rows) per non-empty histogram, for both renderings."""
    out = []
    for h in report.histograms:
        fmt = _hist_usd if h.metric == "cost_per_request_usd" else _hist_ms
        rows = render_rows(h, fmt)
        if rows:
            out.append((HISTOGRAM_TITLES.get(h.metric, h.metric), rows))
    return out


def _hist_ms(x: float) -> str:
    return f"{x:,.0f}"


def _hist_usd(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x else "0"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _md_cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(_md_cell(h) for h in head) + " |",
            "|" + "---|" * len(head),
            *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows)]


def render_markdown(report: ShadowReport) -> str:
    """The report for a pull request or a wiki page."""
    head = _header(report)
    out = [f"## Shadow `{report.name}`: {report.verdict_line}", "",
           *(f"- {line}" for line in head[1:])]
    shown = report.noise.classes[:SHOWN_CLASSES]
    if shown:
        out += ["", "### Difference classes", "",
                *_md_table(CLASS_HEAD[:-1] + ("flagged",), _class_rows(shown))]
    for f in report.flagged:
        out += ["", f"### `{f.rate.name}`", "", f.rate.reason, "",
                *_md_table(("request", "primary", "candidate"),
                           [(e.request or "(not kept)", e.primary, e.candidate)
                            for e in f.exemplars])]
    if report.failure_modes:
        out += ["", "### Failure modes", "", *_md_table(FAILURE_HEAD, _failure_rows(report))]
    out += ["", "### Latency and cost", "", *_md_table(("metric", *DELTA_HEAD[1:]),
                                                       _delta_rows(report))]
    for title, rows in _histogram_blocks(report):  # a code block keeps the bars aligned
        out += ["", f"{title[:1].upper()}{title[1:]}:", "", "```", *rows, "```"]
    return "\n".join(out) + "\n"


__all__ = [
    "Delta",
    "Histogram",
    "Exemplar",
    "FailureMode",
    "FlaggedClass",
    "ShadowReport",
    "Verdict",
    "build_report",
    "describe",
    "render_markdown",
    "render_text",
    "similarity_of",
    "text_similarity",
]
