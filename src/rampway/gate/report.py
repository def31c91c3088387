"""Gate reports: Markdown (a PR comment: verdict first), JSON, and JUnit XML for CI UIs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from rampway.gate.model import AxisEstimate, CaseChange, GateInput, Verdict
from rampway.gate.policy import Decision, Policy, RuleOutcome
from rampway.gate.sequential import SequentialSummary

ICON = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.INCONCLUSIVE: "⚠️"}
FORMATS = ("md", "json", "junit")
FIRST_RELEASE_NOTE = ("nothing serves `production` yet, so the candidate was compared with an "
                      "independent run of itself: this checks that the suite runs and that the "
                      "policy can decide at this release's noise, not that it beats anything")
MODEL_SWAP_NOTE = ("the full suite with repeats, no sampled first look and no --changed-since "
                   "shortcut")


@dataclass(frozen=True, slots=True)
class GateReport:
    """One feature's gate: the data compared, the policy used and the decision."""

    data: GateInput
    policy: Policy
    decision: Decision
    policy_source: str = "default policy"
    suite_digest: str = ""  # the eval suite both releases ran (its content hash)
    sequential: SequentialSummary | None = None  # how many looks and calls the decision took
    model_swap: str | None = None  # "a → b" when only the model changed (full suite, repeats)
    first_release: bool = False  # no production release yet: the candidate against itself

    @property
    def calls(self) -> int | None:
        """New calls this decision made (cache hits of earlier runs excluded)."""
        return None if self.sequential is None else self.sequential.spent.calls

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.data.feature,
            "verdict": self.decision.verdict.value,
            "exit_code": self.decision.verdict.exit_code,
            "policy": self.policy_source,
            "suite_digest": self.suite_digest or None,
            "decision": self.decision.to_json(),
            "sequential": None if self.sequential is None else self.sequential.to_json(),
            "model_swap": self.model_swap,
            "first_release": self.first_release,
            "comparison": self.data.to_json(),
        }


def render(reports: Sequence[GateReport], fmt: str) -> str:
    if fmt == "json":
        body: Any = reports[0].to_json() if len(reports) == 1 else {
            "verdict": Verdict.worst([r.decision.verdict for r in reports]).value,
            "features": [r.to_json() for r in reports],
        }
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        return junit(reports)
    return "\n\n---\n\n".join(markdown(r) for r in reports) + "\n"


# ---------------------------------------------------------------- markdown


def markdown(report: GateReport) -> str:
    d, data = report.decision, report.data
    pct = f"{data.confidence * 100:g}%"
    lines = [
        f"## {ICON[d.verdict]} rampway gate: **{d.verdict.value.upper()}** — `{data.feature}`",
        "",
        f"candidate `{data.candidate}` vs baseline `{data.baseline}` · {data.traffic_class} · "
        f"{data.n_cases} cases × {data.repeats} repeat(s) · {pct} CIs · {report.policy_source}",
        "",
    ]
    if report.first_release:
        lines += [f"First release: {FIRST_RELEASE_NOTE}.", ""]
    if report.model_swap is not None:
        lines += [f"Model change only ({report.model_swap}): {MODEL_SWAP_NOTE}.", ""]
    lines += _why(d, advised=bool(report.sequential and report.sequential.advice))
    lines += _sequential(report.sequential)
    lines += _quality_table(report, pct)
    lines += _level_table(report, "Cost", ("cost",), pct)
    lines += _level_table(report, "Latency", ("latency_p50", "latency_p95"), pct)
    lines += _cases(data.newly_failing, data)
    return "\n".join(lines).rstrip()


def _why(d: Decision, advised: bool = False) -> list[str]:
    """The reasons; per-rule case/repeat estimates only when the looks gave no advice."""
    out = [f"- {r}" for r in d.reasons]
    if d.tradeoffs_applied:
        out.append(f"- trade-off applied: {', '.join(d.tradeoffs_applied)}")
    if d.verdict is Verdict.INCONCLUSIVE and not advised and (d.more_cases or d.more_repeats):
        need = []
        if d.more_cases:
            need.append(f"≈ {d.more_cases} more cases")
        if d.more_repeats:
            need.append(f"≈ {d.more_repeats} more repeats per case")
        out.append(f"- to decide: {' or '.join(need)} (if the observed change holds)")
    if not out:
        out.append("- every rule is met with confidence")
    return [*out, ""]


def _sequential(summary: SequentialSummary | None) -> list[str]:
    if summary is None:
        return []
    lines = [f"Looks: {summary.describe()}."]
    if summary.advice:
        lines.append(f"To decide: {summary.advice}.")
    return [*lines, ""]


def _outcome(report: GateReport, axis: str) -> RuleOutcome | None:
    return next((o for o in report.decision.outcomes if o.axis == axis), None)


def _verdict_cell(outcome: RuleOutcome | None) -> str:
    if outcome is None:
        return "— (no rule)"
    if outcome.verdict is None:
        return f"ignored ({outcome.reason.removeprefix('ignored for ')})"
    trade = f" · trade-off *{outcome.tradeoff}*" if outcome.tradeoff else ""
    return f"{ICON[outcome.verdict]} {outcome.verdict.value} ({outcome.rule}){trade}"


def _ci(interval: Any, unit: str) -> str:
    if interval is None:
        return "—"
    return f"[{_num(interval.low)}, {_num(interval.high)}] {unit}"


def _num(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else ("+∞" if value > 0 else "−∞")


def _quality_table(report: GateReport, pct: str) -> list[str]:
    axes = [a for a in report.data.axes.values() if a.kind == "quality"]
    lines = [
        "### Quality",
        "",
        f"| metric | baseline | candidate | change | {pct} CI (bootstrap) | {pct} CI (paired t) "
        "| noise floor¹ | verdict |",
        "|---|---:|---:|---:|---|---|---:|---|",
    ]
    for a in axes:
        floor = report.data.noise_floor.get(a.name)
        lines.append(
            f"| {a.name} | {a.baseline * 100:.1f} | {a.candidate * 100:.1f} | "
            f"{_num(a.change)} pts | {_ci(a.bootstrap, 'pts')} | {_ci(a.t, 'pts')} | "
            f"{'n/a' if floor is None else f'±{floor:.2f} pts'} | "
            f"{_verdict_cell(_outcome(report, a.name))} |"
        )
    note = (
        "¹ display only: how far two runs of the baseline alone would differ, from its own "
        "repeats (real calls, one seed each); the CIs already contain that repeat noise."
    )
    return [*lines, "", note, ""]


def _level(a: AxisEstimate, value: float) -> str:
    return f"${value:.6f}" if a.kind == "cost" else f"{value * 1000:.0f} ms"


def _level_table(report: GateReport, title: str, names: Sequence[str], pct: str) -> list[str]:
    axes = [report.data.axes[n] for n in names if n in report.data.axes]
    lines = [
        f"### {title}",
        "",
        f"| axis | baseline | candidate | change | {pct} CI | verdict |",
        "|---|---:|---:|---:|---|---|",
    ]
    for a in axes:
        label = "cost per case" if a.kind == "cost" else a.name.replace("latency_", "")
        lines.append(
            f"| {label} | {_level(a, a.baseline)} | {_level(a, a.candidate)} | "
            f"{_num(a.change)}% | {_ci(a.bootstrap, '%')} | "
            f"{_verdict_cell(_outcome(report, a.name))} |"
        )
    return [*lines, ""]


MAX_FAILING_SHOWN = 25  # a PR comment stays readable; the JSON report has every case
MAX_PASSING_SHOWN = 20


def _shown(total: int, shown: int) -> str:
    """"22, 20 shown" when a list is cut, so a reader never mistakes a page for the whole."""
    return f"{total}, {shown} shown" if shown < total else str(total)


def _cases(failing: Sequence[CaseChange], data: GateInput) -> list[str]:
    if not failing:
        lines = ["### Newly failing cases", "", "None."]
    else:
        shown = failing[:MAX_FAILING_SHOWN]
        lines = [f"### Newly failing cases ({_shown(len(failing), len(shown))})", ""]
        for change in shown:
            lines += _case_block(change)
        if len(failing) > len(shown):
            lines.append(f"… and {len(failing) - len(shown)} more (see the JSON report)")
    if data.newly_passing:
        passing = data.newly_passing[:MAX_PASSING_SHOWN]
        more = " … (see the JSON report)" if len(data.newly_passing) > len(passing) else ""
        lines += ["", f"Newly passing ({_shown(len(data.newly_passing), len(passing))}): "
                      f"{', '.join(f'`{c}`' for c in passing)}{more}"]
    if data.flaky:
        lines += ["", f"Flaky in the candidate (mixed across repeats): {len(data.flaky)} case(s)"]
    return lines


def _case_block(change: CaseChange) -> list[str]:
    tag = " **critical**" if change.critical else ""
    failed = ", ".join(change.failed_scorers) or "error"
    diff = [f"- {line}" for line in change.baseline_output.splitlines() or [""]]
    diff += [f"+ {line}" for line in change.candidate_output.splitlines() or [""]]
    details = [f"> {d}" for d in change.details[:5]]
    return [
        f"<details><summary><code>{change.case_id}</code>{tag} — failed: {failed} "
        f"(passed {change.baseline_pass_rate:.0%} → {change.candidate_pass_rate:.0%})"
        "</summary>",
        "",
        *details,
        "",
        "```diff",
        *diff,
        "```",
        "</details>",
        "",
    ]


# ---------------------------------------------------------------- junit


def junit(reports: Sequence[GateReport]) -> str:
    """JUnit XML that the common JUnit schema accepts (`errors` and `tests` on every suite and
    on the root, `<properties>` first). A rule is a test case: FAIL is a `<failure>`;
    INCONCLUSIVE is a `<failure>` too when the policy says `inconclusive: fail` (the default:
    it fails CI, so the CI report must not show it green) and a `<skipped>` with `warn`; a rule
    that does not apply to the traffic class is `<skipped>`."""
    root = ET.Element("testsuites", name="rampway gate")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        counts = _junit_suite(ET.SubElement(root, "testsuite", name=f"gate.{report.data.feature}"),
                              report)
        for name, value in counts.items():
            totals[name] += value
    for name in ("tests", "failures", "errors"):
        root.set(name, str(totals[name]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_suite(suite: ET.Element, report: GateReport) -> dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    feature = report.data.feature
    inconclusive_fails = report.policy.inconclusive == "fail"
    for outcome in report.decision.outcomes:
        case = ET.SubElement(suite, "testcase", classname=feature, name=outcome.rule)
        counts["tests"] += 1
        failed = outcome.verdict is Verdict.FAIL or (
            outcome.verdict is Verdict.INCONCLUSIVE and inconclusive_fails)
        if failed:
            counts["failures"] += 1
            kind = "fail" if outcome.verdict is Verdict.FAIL else "inconclusive"
            message = f"{kind}: {outcome.reason}"
            ET.SubElement(case, "failure", type=kind, message=message).text = message
        elif outcome.verdict is not Verdict.PASS:
            counts["skipped"] += 1
            kind = "inconclusive" if outcome.verdict is Verdict.INCONCLUSIVE else "not applicable"
            ET.SubElement(case, "skipped", type=kind, message=f"{kind}: {outcome.reason}")
    for change in report.decision.critical_failures:
        case = ET.SubElement(suite, "testcase", classname=feature,
                             name=f"critical case {change.case_id}")
        counts["tests"] += 1
        counts["failures"] += 1
        message = f"critical case newly fails: {', '.join(change.failed_scorers)}"
        ET.SubElement(case, "failure", type="critical",
                      message=message).text = change.candidate_output
    if report.sequential is not None:
        suite.set("time", f"{report.sequential.spent.seconds:.3f}")
        props = ET.Element("properties")  # JUnit's schema wants it first
        suite.insert(0, props)
        for name, value in (("calls", report.sequential.spent.calls),
                            ("answers_compared", report.sequential.evaluations),
                            ("looks", len(report.sequential.looks)),
                            ("stopped", report.sequential.stopped)):
            ET.SubElement(props, "property", name=name, value=str(value))
    for name, value in counts.items():
        suite.set(name, str(value))
    return counts
