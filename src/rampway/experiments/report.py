"""An experiment's analysis as data (`ExperimentReport`), as text for people, as JSON for tools.

`render_text(report)` leads with the decision and its one-sentence reason, then any warning
(a sample-ratio mismatch is loud), then per metric a table (arm values, the change, the lift,
both intervals, the verdict) and a small plot of each treatment's change against zero:

    friendly  -5pp ······················│├───━━━━━●━━━━━━──┤ +5pp  better
    terse     -5pp ·········├───━━━━━━━━┼━●━━━━━━━───┤······· +5pp  no detectable difference

The whole bar (`├──┤`) is the always-valid interval, the one that decides; the heavy middle
(`━`) the fixed-horizon interval; `●` the estimate; `│` zero (`┼` inside the bar). A bar
that doesn't cross zero is a detected change, and only that: what the table and the plot show
(`shown`) is exactly the interval the verdict reads.

That interval is of the *difference* treatment - control, in the metric's own unit (a
proportion's in percentage points). The lift (treatment / control - 1) is shown as an estimate
only. Its delta-method interval (`relative`, `sequential_relative`, kept in the JSON for tools)
is a different interval, not the one that decides: with a small control rate it is wide and
symmetric and crosses zero (even -100%) while the difference's excludes it, so showing it next to
a "better" contradicts the verdict. Nor is the difference's interval divided by the observed
control mean shown as a "relative" interval: that would agree with the verdict by construction,
but it treats the control mean as known and so claims more certainty about the lift than the
data give.

`to_json(report)` has stable keys and only JSON values: NaN and infinities become null.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from rampway.experiments._duration import duration_text
from rampway.experiments.metrics import Kind, metric_def
from rampway.stats import Interval, SequentialInterval

Role = Literal["primary", "secondary", "guardrail"]
Direction = Literal["increase", "decrease"]
PLOT_WIDTH = 41


class Verdict(StrEnum):
    """What the always-valid interval says about one metric of one treatment arm."""

    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no detectable difference"
    NOT_ENOUGH_DATA = "not enough data"


class Decision(StrEnum):
    SHIP = "ship"
    DONT_SHIP = "don't ship"
    KEEP_RUNNING = "keep running"
    NO_DIFFERENCE = "no detectable difference"


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric, one treatment arm against the control."""

    metric: str
    kind: Kind
    role: Role
    arm: str
    good: Direction  # which change is better (a guardrail: the opposite of its `bad`)
    control_mean: float
    treatment_mean: float
    n_control: int  # units (retention: units old enough)
    n_treatment: int
    absolute: Interval  # fixed-horizon, treatment - control
    relative: Interval  # fixed-horizon, treatment / control - 1 (for information)
    sequential: SequentialInterval  # always-valid, treatment - control: decides the verdict
    sequential_relative: SequentialInterval  # always-valid lift (for information)
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "kind": self.kind, "role": self.role, "arm": self.arm,
            "good": self.good, "verdict": self.verdict.value,
            "control_mean": self.control_mean, "treatment_mean": self.treatment_mean,
            "n_control": self.n_control, "n_treatment": self.n_treatment,
            "absolute": self.absolute.as_dict(), "relative": self.relative.as_dict(),
            "always_valid": self.sequential.as_dict(),
            "always_valid_relative": self.sequential_relative.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class ArmCounts:
    name: str
    release_id: str
    weight_bp: int
    units: int  # exposed units, multiple exposures excluded
    requests: int


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    """Exposed units per arm against the arms' weights (Pearson chi-square)."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    p_value: float
    threshold: float
    mismatch: bool
    checked: bool  # False: too few units to test

    def to_json(self) -> dict[str, Any]:
        return {"observed": list(self.observed), "expected": list(self.expected),
                "p_value": self.p_value, "threshold": self.threshold,
                "mismatch": self.mismatch, "checked": self.checked}


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: str
    experiment_id: int
    feature: str
    status: str
    unit: str
    since: float
    until: float  # the analysis time: stopped_at, or now while running
    runtime_s: float
    min_runtime_s: float
    alpha: float
    alpha_per_comparison: float
    correction: str  # how alpha was split across treatment arms, in words
    arms: tuple[ArmCounts, ...]
    multiple_exposures: int
    multiple_exposure_requests: int
    srm: SampleRatioCheck
    results: tuple[MetricResult, ...]
    decision: Decision
    ship_arm: str | None
    explanation: str
    warnings: tuple[str, ...] = ()
    #: where the per-unit rows came from: "rollup" (`rampway.experiments.rollup`, a row per
    #: unit), "events" (the window's requests) or "clickhouse" (its requests there)
    source: str = "events"
    source_why: str = ""  # why not the roll-up, when it was not

    @property
    def units(self) -> int:
        return sum(a.units for a in self.arms)

    @property
    def requests(self) -> int:
        return sum(a.requests for a in self.arms)

    def result(self, metric: str, arm: str) -> MetricResult:
        for r in self.results:
            if r.metric == metric and r.arm == arm:
                return r
        raise KeyError((metric, arm))


# ------------------------------------------------------------------------------- JSON


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(report: ExperimentReport) -> dict[str, Any]:
    """The report as JSON-able data with stable keys; NaN/inf are null."""
    doc: dict[str, Any] = _clean({
        "experiment": report.experiment,
        "id": report.experiment_id,
        "feature": report.feature,
        "status": report.status,
        "unit": report.unit,
        "window": {"since": report.since, "until": report.until},
        "runtime_s": report.runtime_s,
        "min_runtime_s": report.min_runtime_s,
        "decision": report.decision.value,
        "ship_arm": report.ship_arm,
        "explanation": report.explanation,
        "warnings": list(report.warnings),
        "source": {"read": report.source, "why": report.source_why or None},
        "alpha": report.alpha,
        "alpha_per_comparison": report.alpha_per_comparison,
        "correction": report.correction,
        "counts": {
            "units": report.units,
            "requests": report.requests,
            "multiple_exposures": report.multiple_exposures,
            "multiple_exposure_requests": report.multiple_exposure_requests,
        },
        "arms": [{"name": a.name, "release_id": a.release_id, "weight_bp": a.weight_bp,
                  "units": a.units, "requests": a.requests} for a in report.arms],
        "srm": report.srm.to_json(),
        "metrics": [r.to_json() for r in report.results],
    })
    return doc


# ------------------------------------------------------------------------------- text


def _percent(r: MetricResult) -> bool:
    """Is the metric a rate, shown as a percentage (its changes in percentage points)?

    Proportions, and ratios of counts without a unit (error_rate, refusal_rate); not a
    feedback mean, whose values can be ratings.
    """
    if r.kind == "proportion":
        return True
    definition = metric_def(r.metric)
    return r.kind == "ratio" and not definition.unit and definition.feedback is None


def _value(value: float, percent: bool) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.2%}" if percent else f"{value:.4g}"


def _signed(value: float, percent: bool) -> str:
    """A difference in the metric's unit; a rate's in percentage points."""
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "-∞" if value < 0 else "+∞"
    return f"{value * 100:+.3g}pp" if percent else f"{value:+.3g}"


def shown(r: MetricResult) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """What the table and the plot show for a result: (estimate, fixed-horizon interval,
    always-valid interval) of the difference treatment - control.

    The always-valid one is the interval the verdict reads, so a shown interval excludes zero
    exactly when the verdict is better or worse (or "not enough data": too few units).
    """
    f, s = r.absolute, r.sequential
    return f.estimate, (f.lower, f.upper), (s.lower, s.upper)


def change_text(r: MetricResult) -> str:
    """The change in words, as the verdict reads it.

    `+2.1pp, always-valid [+1.2pp, +3pp]; lift +10.5%`
    """
    estimate, _, (lower, upper) = shown(r)
    percent = _percent(r)
    text = (f"{_signed(estimate, percent)}, always-valid "
            f"[{_signed(lower, percent)}, {_signed(upper, percent)}]")
    lift = r.relative.estimate
    return text + (f"; lift {lift:+.1%}" if math.isfinite(lift) else "")


def interval_bar(estimate: float, fixed: tuple[float, float], valid: tuple[float, float],
                 scale: float, width: int = PLOT_WIDTH) -> str:
    """A text plot of an interval against zero on [-scale, +scale].

    An interval that excludes zero is never drawn across it, however it rounds to the cells,
    and one that crosses it always shows `┼` (an estimate rounding onto zero is drawn beside
    it): the plot must say what the verdict says.

    >>> interval_bar(0.5, (0.3, 0.7), (0.2, 0.8), 1.0, width=21)
    '··········│·├━━●━━┤··'
    """
    if not all(math.isfinite(x) for x in (*valid, estimate)) or scale <= 0:
        return "·" * (width // 2) + "│" + "·" * (width - width // 2 - 1)
    half = width // 2

    def at(x: float) -> int:
        return max(0, min(width - 1, half + round(x / scale * half)))

    cells = ["·"] * width
    lo, hi = at(valid[0]), at(valid[1])
    if valid[0] > 0:
        lo = max(lo, half + 1)
        hi = max(hi, lo)
    elif valid[1] < 0:
        hi = min(hi, half - 1)
        lo = min(lo, hi)
    for i in range(lo, hi + 1):
        cells[i] = "─"
    if all(math.isfinite(x) for x in fixed):
        for i in range(max(lo, at(fixed[0])), min(hi, at(fixed[1])) + 1):
            cells[i] = "━"
    cells[lo], cells[hi] = "├", "┤"
    crosses = lo <= half <= hi
    cells[half] = "┼" if crosses else "│"
    dot = min(max(at(estimate), lo), hi)
    if dot == half:  # an estimate near zero goes beside it: the crossing must stay visible
        dot = next((i for i in (half + (1 if estimate >= 0 else -1),
                                half - (1 if estimate >= 0 else -1)) if lo <= i <= hi), -1)
    if dot >= 0:
        cells[dot] = "●"
    return "".join(cells)


def _plot_lines(results: Sequence[MetricResult]) -> list[str]:
    percent = _percent(results[0])
    drawn = [shown(r) for r in results]
    ends = [abs(x) for est, _, valid in drawn for x in (est, *valid) if math.isfinite(x)]
    scale = max(ends, default=0.0) * 1.05 or 1.0
    width = max(len(r.arm) for r in results)
    lines = []
    for r, (est, fixed, valid) in zip(results, drawn, strict=True):
        bar = interval_bar(est, fixed, valid, scale)
        if not all(math.isfinite(x) for x in valid):
            bar = bar + "  (interval unbounded)"
        lines.append(f"  {r.arm:<{width}} {_signed(-scale, percent):>7} {bar} "
                     f"{_signed(scale, percent):<7} {r.verdict.value}")
    return lines


def _value_label(r: MetricResult) -> str:
    """The value column's name: what the metric is per arm (p95 for latency_p95, not a mean)."""
    if r.kind == "quantile":
        q = metric_def(r.metric).q
        return f"p{q * 100:g}" if q is not None else "quantile"
    return "rate" if _percent(r) else "mean"


def _metric_table(results: Sequence[MetricResult], alpha: float) -> Table:
    first = results[0]
    percent = _percent(first)
    role = first.role + (f", bad = {'increase' if first.good == 'decrease' else 'decrease'}"
                         if first.role == "guardrail" else f", better = {first.good}")
    table = Table(title=f"{first.metric} ({first.kind}; {role})", title_justify="left")
    for column in ("arm", "units", _value_label(first), "change", "lift", f"{1 - alpha:.4g} CI",
                   "always-valid CI", "verdict"):
        table.add_column(column)
    table.add_row("control", str(first.n_control), _value(first.control_mean, percent),
                  "", "", "", "", "")
    for r in results:
        est, (flo, fhi), (vlo, vhi) = shown(r)

        def fmt(x: float) -> str:
            return _signed(x, percent)

        lift = r.relative.estimate
        table.add_row(r.arm, str(r.n_treatment), _value(r.treatment_mean, percent), fmt(est),
                      f"{lift:+.1%}" if math.isfinite(lift) else "–",
                      f"[{fmt(flo)}, {fmt(fhi)}]", f"[{fmt(vlo)}, {fmt(vhi)}]",
                      r.verdict.value)
    return table


def _header(report: ExperimentReport) -> list[str]:
    arms = ", ".join(f"{a.name} {a.units} units/{a.requests} req ({a.weight_bp / 100:g}%)"
                     for a in report.arms)
    decision = report.decision.value + (f" {report.ship_arm}" if report.ship_arm else "")
    return [
        f"experiment {report.experiment}#{report.experiment_id} on {report.feature} "
        f"({report.status}, by {report.unit}) — ran {duration_text(report.runtime_s)} of "
        f"{duration_text(report.min_runtime_s)} minimum",
        f"DECISION: {decision.upper()} — {report.explanation}",
        f"arms: {arms}",
        f"units: {report.units} exposed, {report.multiple_exposures} excluded for exposure to "
        f"several arms ({report.multiple_exposure_requests} requests); requests: "
        f"{report.requests}",
        f"alpha {report.alpha:g}; {report.correction}; decisions use always-valid intervals "
        "(safe to look at any time)",
        f"read from: {_SOURCES.get(report.source, report.source)}"
        + (f" ({report.source_why})" if report.source_why else ""),
    ]


_SOURCES = {"rollup": "the experiment's roll-up (a row per unit)",
            "events": "the event log (the window's requests)",
            "clickhouse": "the event log in ClickHouse"}


def render_text(report: ExperimentReport, *, width: int = 120) -> str:
    """The report for a terminal: decision first, warnings, then per metric a table and plot."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False,
                      soft_wrap=False, emoji=False)
    for line in _header(report):
        console.print(line, markup=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"WARNING: {warning}", markup=False, soft_wrap=True)
    for metric, role in dict.fromkeys((r.metric, r.role) for r in report.results):
        results = [r for r in report.results if (r.metric, r.role) == (metric, role)]
        console.print()
        console.print(_metric_table(results, report.alpha_per_comparison))
        for line in _plot_lines(results):
            console.print(line, markup=False)
    if report.results:
        console.print()
        console.print("change = treatment - control (rates in percentage points); lift = "
                      "treatment / control - 1, an estimate only", markup=False, soft_wrap=True)
        console.print("plot: ├──┤ always-valid interval of the change (decides), ━ fixed-horizon "
                      "interval, ● estimate, │ zero", markup=False, soft_wrap=True)
    return out.getvalue()


__all__ = [
    "ArmCounts",
    "Decision",
    "Direction",
    "ExperimentReport",
    "MetricResult",
    "Role",
    "SampleRatioCheck",
    "Verdict",
    "change_text",
    "interval_bar",
    "render_text",
    "shown",
    "to_json",
]
