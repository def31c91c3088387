"""An experiment's analysis as data (`ExperimentReport`), as text for people, as JSON for tools.

`render_text(report)` leads with the decision and its one-sentence reason, then any warning
(a sample-ratio mismatch is loud), then per metric a table (arm means, the change, both
intervals, the verdict) and a small plot of each treatment's change against zero:

    friendly  -50.0% ····················│├───━━━━━●━━━━━━──┤· +50.0%  better
    terse     -50.0% ·········├───━━━━━━━┼━●━━━━━━━───┤······ +50.0%  no detectable difference

The whole bar (`├──┤`) is the always-valid interval, the one that decides; the heavy middle
(`━`) the fixed-horizon interval; `●` the estimate; `│` zero (`┼` inside the bar). A bar
that doesn't cross zero is a detected change. Changes are relative (lift) unless an arm's
control mean is 0; then absolute (a proportion's in percentage points).

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

from rampway.experiments.metrics import Kind
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
    relative: Interval  # fixed-horizon, treatment / control - 1
    sequential: SequentialInterval  # always-valid, treatment - control: decides the verdict
    sequential_relative: SequentialInterval
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


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f}d"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f}h"
    return f"{seconds / 60:.0f}m"


def _value(value: float, kind: Kind) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.2%}" if kind == "proportion" else f"{value:.4g}"


def _signed(value: float, percent: bool, kind: Kind) -> str:
    """A change: relative in %, a proportion's absolute change in percentage points."""
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "-∞" if value < 0 else "+∞"
    if percent:
        return f"{value:+.1%}"
    return f"{value * 100:+.3g}pp" if kind == "proportion" else f"{value:+.3g}"


def _relative(results: Sequence[MetricResult]) -> bool:
    """Show relative changes (lift) unless some arm's can't be had (a control mean of 0)."""
    return all(math.isfinite(r.control_mean) and r.control_mean != 0 for r in results)


def _shown(r: MetricResult, relative: bool) -> tuple[float, float, float, float, float]:
    """(estimate, fixed lower, fixed upper, always-valid lower, upper) as shown."""
    f, s = (r.relative, r.sequential_relative) if relative else (r.absolute, r.sequential)
    return f.estimate, f.lower, f.upper, s.lower, s.upper


def interval_bar(estimate: float, fixed: tuple[float, float], valid: tuple[float, float],
                 scale: float, width: int = PLOT_WIDTH) -> str:
    """A text plot of an interval against zero on [-scale, +scale].

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
    for i in range(lo, hi + 1):
        cells[i] = "─"
    if all(math.isfinite(x) for x in fixed):
        for i in range(at(fixed[0]), at(fixed[1]) + 1):
            cells[i] = "━"
    cells[half] = "┼" if lo <= half <= hi else "│"
    cells[lo], cells[hi] = "├", "┤"
    cells[at(estimate)] = "●"
    return "".join(cells)


def _plot_lines(results: Sequence[MetricResult]) -> list[str]:
    relative, kind = _relative(results), results[0].kind
    shown = [_shown(r, relative) for r in results]
    ends = [abs(x) for s in shown for x in (s[0], s[3], s[4]) if math.isfinite(x)]
    scale = max(ends, default=0.0) * 1.05 or 1.0
    width = max(len(r.arm) for r in results)
    lines = []
    for r, (est, flo, fhi, vlo, vhi) in zip(results, shown, strict=True):
        bar = interval_bar(est, (flo, fhi), (vlo, vhi), scale)
        if not math.isfinite(vlo) or not math.isfinite(vhi):
            bar = bar + "  (interval unbounded)"
        lines.append(f"  {r.arm:<{width}} {_signed(-scale, relative, kind):>7} {bar} "
                     f"{_signed(scale, relative, kind):<7} {r.verdict.value}")
    return lines


def _metric_table(results: Sequence[MetricResult], alpha: float) -> Table:
    first = results[0]
    relative = _relative(results)
    role = first.role + (f", bad = {'increase' if first.good == 'decrease' else 'decrease'}"
                         if first.role == "guardrail" else f", better = {first.good}")
    change = "change" if relative else "change (absolute)"
    table = Table(title=f"{first.metric} ({first.kind}; {role})", title_justify="left")
    for column in ("arm", "units", "mean", change, f"{1 - alpha:.4g} CI",
                   "always-valid CI", "verdict"):
        table.add_column(column)
    table.add_row("control", str(first.n_control), _value(first.control_mean, first.kind),
                  "", "", "", "")
    for r in results:
        est, flo, fhi, vlo, vhi = _shown(r, relative)

        def fmt(x: float, kind: Kind = r.kind) -> str:
            return _signed(x, relative, kind)

        table.add_row(r.arm, str(r.n_treatment), _value(r.treatment_mean, r.kind), fmt(est),
                      f"[{fmt(flo)}, {fmt(fhi)}]", f"[{fmt(vlo)}, {fmt(vhi)}]",
                      r.verdict.value)
    return table


def _header(report: ExperimentReport) -> list[str]:
    arms = ", ".join(f"{a.name} {a.units} units/{a.requests} req ({a.weight_bp / 100:g}%)"
                     for a in report.arms)
    decision = report.decision.value + (f" {report.ship_arm}" if report.ship_arm else "")
    return [
        f"experiment {report.experiment}#{report.experiment_id} on {report.feature} "
        f"({report.status}, by {report.unit}) — ran {_duration(report.runtime_s)} of "
        f"{_duration(report.min_runtime_s)} minimum",
        f"DECISION: {decision.upper()} — {report.explanation}",
        f"arms: {arms}",
        f"units: {report.units} exposed, {report.multiple_exposures} excluded for exposure to "
        f"several arms ({report.multiple_exposure_requests} requests); requests: "
        f"{report.requests}",
        f"alpha {report.alpha:g}; {report.correction}; decisions use always-valid intervals "
        "(safe to look at any time)",
    ]


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
        console.print("plot: ├──┤ always-valid interval (decides), ━ fixed-horizon interval, "
                      "● estimate, │ zero", markup=False, soft_wrap=True)
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
    "interval_bar",
    "render_text",
    "to_json",
]
