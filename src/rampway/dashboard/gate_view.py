"""A recorded gate decision as a page: the verdict and why, the tables, the newly failing cases.

The store keeps each `rampway gate` run's report as its JSON form (`gate_decisions.summary`,
`rampway.gate.records.bounded_summary`), so the page reads that and nothing else: no eval is
re-run, and the page shows what CI saw. A big report was cut down before it was stored
(outputs dropped, or only the verdict and reasons kept); the page says so.

    gate_page(store, "support-bot", 12)   # RefError if #12 is not a gate of support-bot
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from rampway.errors import RefError
from rampway.gate.records import GateRecord, get_gate
from rampway.gate.report import MAX_FAILING_SHOWN
from rampway.gate.tables import gate_decisions
from rampway.store import Store

#: The level tables, in the Markdown report's order: (title, axes).
LEVEL_TABLES = (("Cost", ("cost",)), ("Latency", ("latency_p50", "latency_p95")))


def gate_page(store: Store, feature: str, gate_id: int) -> dict[str, Any]:
    """What the gate page shows of decision `gate_id` (which must be one of `feature`'s)."""
    record = get_gate(store, gate_id) if 0 < gate_id < 2**31 else None
    if record is None or record.feature != feature:
        raise RefError(f"no gate decision #{gate_id} for feature {feature!r}")
    return gate_view(record)


def recent_gates(store: Store, feature: str, limit: int = 20) -> list[dict[str, Any]]:
    """The feature's newest recorded decisions (no summaries: the list needs only the line)."""
    c = gate_decisions.c
    query = (sa.select(c.id, c.candidate, c.baseline, c.verdict, c.policy, c.actor, c.at)
             .where(c.feature == feature).order_by(c.id.desc()).limit(limit))
    with store.reading() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def gate_view(record: GateRecord) -> dict[str, Any]:
    """The record's stored report, arranged for the template (pure)."""
    doc = record.summary
    decision = doc.get("decision") or {}
    comparison = doc.get("comparison") or {}
    rules = {str(r.get("axis")): r for r in decision.get("rules") or [] if isinstance(r, dict)}
    axes = {str(k): {**v, "name": str(k), "rule": rules.get(str(k))}
            for k, v in (comparison.get("axes") or {}).items() if isinstance(v, dict)}
    failing = [c for c in comparison.get("newly_failing") or [] if isinstance(c, dict)]
    total_failing = int(comparison.get("newly_failing_total") or len(failing))
    return {
        "record": record,
        "verdict": record.verdict.value,
        "reasons": [str(r) for r in decision.get("reasons") or []],
        "tradeoffs_applied": list(decision.get("tradeoffs_applied") or []),
        "notes": list(decision.get("notes") or []),
        "more_cases": decision.get("more_cases"),
        "more_repeats": decision.get("more_repeats"),
        "comparison": comparison,
        "confidence_pct": f"{float(comparison.get('confidence') or 0.95) * 100:g}%",
        "quality": [a for a in axes.values() if a.get("kind") == "quality"],
        "levels": [(title, [axes[n] for n in names if n in axes])
                   for title, names in LEVEL_TABLES],
        "noise_floor": comparison.get("noise_floor") or {},
        "failing": failing[:MAX_FAILING_SHOWN],
        "failing_total": total_failing,
        "passing": list(comparison.get("newly_passing") or []),
        "flaky": list(comparison.get("flaky") or []),
        "sequential": doc.get("sequential"),
        "model_swap": doc.get("model_swap"),
        "truncated": bool(doc.get("truncated")),
        "has_tables": bool(comparison),
    }


def interval_text(interval: Any, unit: str) -> str:
    """`[-1.20, +3.40] pts` from a stored `[low, high]` (null ends are ∓∞)."""
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        return "–"
    low, high = interval
    return f"[{_signed(low, -1)}, {_signed(high, 1)}] {unit}"


def _signed(value: Any, sign: int) -> str:
    if not isinstance(value, int | float):
        return "−∞" if sign < 0 else "+∞"
    return f"{value:+.2f}"


def rule_text(rule: dict[str, Any] | None) -> str:
    """The verdict cell: `pass (min_delta_pts: -2)`, `ignored (…)` or `— (no rule)`."""
    if not rule:
        return "— (no rule)"
    if rule.get("verdict") is None:
        return f"ignored ({str(rule.get('reason') or '').removeprefix('ignored for ')})"
    trade = f" · trade-off {rule['tradeoff']}" if rule.get("tradeoff") else ""
    return f"{rule['verdict']} ({rule.get('rule')}){trade}"


__all__ = ["gate_page", "gate_view", "interval_text", "recent_gates", "rule_text"]
