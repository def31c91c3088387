"""The migration plan: per feature on a model going away, where its upgrade stands. Pure.

`rampway models plan` gathers, per affected feature, the lifecycle dates (`Sunset`), the
upgrade candidate (`plan_upgrade`), the candidate's recorded gate and, when a shadow mirrored
production to it, the behaviour shift seen on real traffic; this module turns that into the
next action and renders it for a terminal, a pull-request comment and tools:

    ready to roll out       the gate passed: `rampway rollout start FEATURE --candidate ID`
    needs prompt work       the gate failed: the successor does worse with today's prompt
    needs more evidence     the gate was inconclusive: more cases or repeats
    gate it                 no gate recorded yet: `rampway models upgrade FEATURE`
    blocked: no successor   nothing to move to (pass --to MODEL to `models upgrade`)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rampway.providers.catalog import Sunset

#: Shadow difference classes that describe a model's behaviour shift, by the heading they go
#: under (see `rampway.shadow.compare` for the classes).
BEHAVIOUR = (("verbosity", ("verbosity:",)),
             ("tool use", ("tool_call:",)),
             ("JSON adherence", ("failure:invalid_json", "failure:schema", "json_field:")))
KEY_AXES = (("quality", ("pass_rate",)), ("cost", ("cost",)),
            ("latency", ("latency_p95", "latency_p50")))


@dataclass(frozen=True, slots=True)
class Delta:
    """One gate axis, candidate vs production: `change` in `unit` (pts or %)."""

    label: str
    axis: str
    change: float | None
    unit: str

    def render(self) -> str:
        if self.change is None:
            return f"{self.label} n/a"
        sign = "+" if self.change > 0 else "−" if self.change < 0 else "±"
        amount = f"{abs(self.change):.1f}"
        return f"{self.label} {sign}{amount}{' pts' if self.unit == 'pts' else ' %'}"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "axis": self.axis, "change": self.change, "unit": self.unit}


@dataclass(frozen=True, slots=True)
class GateSummary:
    gate_id: int
    verdict: str  # pass | fail | inconclusive
    deltas: tuple[Delta, ...]
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"gate_id": self.gate_id, "verdict": self.verdict,
                "deltas": [d.to_json() for d in self.deltas], "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Shift:
    """One shadow difference class: how often the candidate differs vs the noise floor."""

    heading: str  # verbosity | tool use | JSON adherence
    name: str
    rate: float
    floor: float
    flagged: bool

    def render(self) -> str:
        mark = " (flagged)" if self.flagged else ""
        return f"{self.name} {self.rate:.0%} vs floor {self.floor:.0%}{mark}"

    def to_json(self) -> dict[str, Any]:
        return {"heading": self.heading, "class": self.name, "rate": self.rate,
                "floor": self.floor, "flagged": self.flagged}


@dataclass(frozen=True, slots=True)
class ShadowSummary:
    name: str
    pairs: int
    verdict_line: str
    shifts: tuple[Shift, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "pairs": self.pairs, "verdict_line": self.verdict_line,
                "shifts": [s.to_json() for s in self.shifts]}


@dataclass(frozen=True, slots=True)
class FeaturePlan:
    feature: str
    release_id: str
    model: str  # provider/model of the primary
    sunsets: tuple[Sunset, ...]
    successor: str | None = None  # provider/model the candidate moves the primary to
    candidate: str | None = None
    blocked: str | None = None
    gate: GateSummary | None = None
    shadow: ShadowSummary | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def action(self) -> str:
        if self.blocked is not None:
            return ("blocked: no successor" if "no successor" in self.blocked
                    else f"blocked: {self.blocked}")
        if self.gate is None:
            return "gate it"
        return {"pass": "ready to roll out", "fail": "needs prompt work"}.get(
            self.gate.verdict, "needs more evidence")

    @property
    def command(self) -> str:
        """The command that takes the next step."""
        if self.blocked is not None:
            return f"rampway models upgrade {self.feature} --to MODEL"
        if self.gate is None:
            return f"rampway models upgrade {self.feature}"
        if self.gate.verdict == "pass":
            return f"rampway rollout start {self.feature} --candidate {self.candidate}"
        if self.gate.verdict == "fail":
            return (f"rework the prompt in upgrades/{self.feature}/, then rampway gate "
                    f"{self.feature} --candidate upgrades/{self.feature}")
        return f"rampway gate {self.feature} --candidate {self.candidate} --repeats 10"

    def to_json(self, today: dt.date) -> dict[str, Any]:
        return {
            "feature": self.feature, "release_id": self.release_id, "model": self.model,
            "sunsets": [s.to_json(today) for s in self.sunsets], "successor": self.successor,
            "candidate": self.candidate, "blocked": self.blocked,
            "gate": None if self.gate is None else self.gate.to_json(),
            "shadow": None if self.shadow is None else self.shadow.to_json(),
            "warnings": list(self.warnings), "next_action": self.action,
            "command": self.command,
        }


def gate_summary(gate_id: int, verdict: str, summary: Mapping[str, Any]) -> GateSummary:
    """The key deltas (quality, cost, latency) and reasons out of a recorded gate's summary."""
    axes = (summary.get("comparison") or {}).get("axes") or {}
    deltas = []
    for label, names in KEY_AXES:
        name = next((n for n in names if n in axes), None)
        if name is None and label == "quality":
            name = next((n for n, a in axes.items() if a.get("kind") == "quality"), None)
        if name is not None:
            axis = axes[name]
            deltas.append(Delta(label, name, axis.get("change"),
                                "pts" if axis.get("kind") == "quality" else "%"))
    reasons = ((summary.get("decision") or {}).get("reasons") or [])[:5]
    return GateSummary(gate_id, verdict, tuple(deltas), tuple(str(r) for r in reasons))


def shifts_from(classes: Sequence[Mapping[str, Any]]) -> tuple[Shift, ...]:
    """The behaviour classes of a shadow report's `classes` (its JSON form), flagged first."""
    out = []
    for row in classes:
        name = str(row.get("class", ""))
        for heading, prefixes in BEHAVIOUR:
            if name.startswith(prefixes):
                rate = row.get("candidate_rate")
                out.append(Shift(heading, name, float(rate) if rate is not None else 0.0,
                                 float(row.get("floor_rate") or 0.0), bool(row.get("flagged"))))
                break
    return tuple(sorted(out, key=lambda s: (not s.flagged, s.heading, -s.rate)))


def render_text(plans: Sequence[FeaturePlan], flags: Sequence[Sunset], today: dt.date,
                days: int) -> str:
    if not plans and not flags:
        return f"ok: no feature or flag uses a model deprecated or retiring within {days} days"
    lines = []
    for p in plans:
        lines += [f"{p.feature}: {p.action}", f"  production {p.release_id} on {p.model}"]
        lines += [f"  {_sunset(s, today)}" for s in p.sunsets]
        lines += _details(p, "  ")
        lines.append(f"  next: {p.command}")
    for s in flags:
        lines.append(f"flag {s.feature} ({s.role}): {_sunset(s, today)}")
    return "\n".join(lines)


def render_markdown(plans: Sequence[FeaturePlan], flags: Sequence[Sunset], today: dt.date,
                    days: int) -> str:
    head = [f"## Model migration plan ({today}, next {days} days)", ""]
    if not plans and not flags:
        return "\n".join([*head, "No feature or flag uses a model deprecated or retiring in "
                                  "the window."])
    rows = ["| feature | going away | deprecation | retirement | successor | gate | next action |",
            "|---|---|---|---|---|---|---|"]
    for p in plans:
        first = next((s for s in p.sunsets if s.role == "primary"), p.sunsets[0])
        gate = "-" if p.gate is None else p.gate.verdict.upper()
        rows.append(f"| {p.feature} | {first.role} `{first.provider}/{first.model}` | "
                    f"{first.deprecation_date or '-'} | {first.retirement_date or '-'} | "
                    f"{_code(p.successor)} | {gate} | **{p.action}** |")
    body = [*head, *rows]
    for p in plans:
        body += ["", f"### {p.feature}: {p.action}", ""]
        body += [f"- {_sunset(s, today)}" for s in p.sunsets]
        body += [f"- {line.strip()}" for line in _details(p, "")]
        body.append(f"- next: `{p.command}`")
    if flags:
        body += ["", "### Flags naming a model going away", "",
                 "| flag | where | model | status | date | successor |",
                 "|---|---|---|---|---|---|"]
        body += [f"| {s.feature} | {s.role} | `{s.provider}/{s.model}` | {s.status} | {s.date} | "
                 f"{_code(s.successor)} |" for s in flags]
    return "\n".join(body)


def _sunset(s: Sunset, today: dt.date) -> str:
    left = (s.date - today).days
    when = f"in {left} days" if left >= 0 else f"{-left} days ago"
    return (f"{s.role} {s.provider}/{s.model}: {s.status} {s.date} ({when}); successor "
            f"{s.successor or 'none'}")


def _details(p: FeaturePlan, indent: str) -> list[str]:
    lines = []
    if p.blocked is not None:
        lines.append(f"{indent}blocked: {p.blocked}")
    elif p.candidate is not None:
        lines.append(f"{indent}candidate {p.candidate} on {p.successor}")
    if p.gate is not None:
        deltas = ", ".join(d.render() for d in p.gate.deltas) or "no deltas recorded"
        lines.append(f"{indent}gate#{p.gate.gate_id} {p.gate.verdict.upper()}: {deltas}")
        lines += [f"{indent}  {r}" for r in p.gate.reasons[:3]]
    if p.shadow is not None:
        lines.append(f"{indent}shadow {p.shadow.name} ({p.shadow.pairs} pairs): "
                     f"{p.shadow.verdict_line}")
        for heading, _ in BEHAVIOUR:
            shown = [s.render() for s in p.shadow.shifts if s.heading == heading][:3]
            if shown:
                lines.append(f"{indent}  {heading}: {'; '.join(shown)}")
    lines += [f"{indent}warning: {w}" for w in p.warnings]
    return lines


def _code(text: str | None) -> str:
    return "-" if text is None else f"`{text}`"


__all__ = [
    "Delta",
    "FeaturePlan",
    "GateSummary",
    "ShadowSummary",
    "Shift",
    "gate_summary",
    "render_markdown",
    "render_text",
    "shifts_from",
]
