"""Gate decisions kept in the store, so a rollout can require a passing gate.

`rampway gate` records every comparison it finishes (pass, fail or inconclusive; never a usage
error, which stops before comparing). A rollout then asks for the newest decision on exactly its
(candidate, baseline) pair — the release ids, so a gate run against `origin/main` counts for a
rollout from `production` when both name the same release:

    record_gate(store, report, actor="ana")                       # after `gate_feature`
    latest = latest_gate(store, "support-bot", "support-bot@9f1c", "support-bot@3a07")
    latest.verdict if latest else None                           # Verdict.PASS / FAIL / …

The newest decision counts, not the best one: a pass followed by a fail on the same pair (e.g. a
re-run with more repeats) means the candidate no longer passes.

Each record keeps the policy and the eval suite it was decided under, as content digests, and a
pass vouches for those only. `rampway.gate.current.current_basis` reads the `GateBasis` the repo
has now, so a rollout can tell a pass under an older (laxer) policy or suite from a current one.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from rampway.errors import ConfigError
from rampway.gate.model import Verdict
from rampway.gate.policy import Policy
from rampway.gate.report import GateReport
from rampway.gate.tables import gate_decisions
from rampway.store import Store

#: A stored summary is at most this many bytes of JSON. The full report is the CI artifact;
#: the store keeps enough to say why (verdict, rules, figures), not every case's output.
MAX_SUMMARY_BYTES = 64 * 1024
_MAX_LISTED = 50
_MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class GateBasis:
    """What a gate decides under: its policy and eval suite, by name and content digest.

    `problem` says why they cannot be read (a missing suite, a broken policy: `file:line: …`);
    the digests are then empty and match no record.
    """

    policy: str  # "policies/<feature>.yaml" or "default policy", as a record names it
    policy_digest: str  # `policy_digest(policy)`, as a record keeps it
    suite: str  # "evals/<feature>/suite.yaml"
    suite_digest: str  # `Suite.digest`, as a record keeps it
    problem: str = ""


@dataclass(frozen=True, slots=True)
class GateRecord:
    """One recorded gate decision: candidate vs baseline under a policy, and its verdict."""

    id: int
    feature: str
    candidate: str
    baseline: str
    verdict: Verdict
    policy: str
    policy_digest: str
    suite_digest: str | None
    summary: dict[str, Any]
    actor: str
    at: datetime

    def brief(self) -> dict[str, Any]:
        """The identifying part (no summary), for audit entries and `rollout status`."""
        return {
            "id": self.id, "feature": self.feature, "candidate": self.candidate,
            "baseline": self.baseline, "verdict": self.verdict.value, "policy": self.policy,
            "policy_digest": self.policy_digest, "suite_digest": self.suite_digest,
            "actor": self.actor, "at": self.at.isoformat(),
        }


def policy_digest(policy: Policy) -> str:
    """sha256 of the policy's canonical JSON: tells two runs under the same name apart."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# -- bounding the summary (pure) ------------------------------------------------------------


def _finite(value: Any) -> Any:
    """NaN/inf become None: PostgreSQL's JSONB refuses them, and they mean 'no figure'."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _size(doc: Any) -> int:
    return len(json.dumps(doc, ensure_ascii=False).encode("utf-8"))


def _cut(text: Any) -> Any:
    if isinstance(text, str) and len(text) > _MAX_TEXT:
        return text[:_MAX_TEXT] + "…"
    return text


def _without_outputs(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop case outputs and details, keep at most `_MAX_LISTED` of every case list."""
    comparison = dict(doc.get("comparison") or {})
    failing = comparison.get("newly_failing") or []
    comparison["newly_failing"] = [
        {k: c.get(k) for k in ("case_id", "critical", "baseline_pass_rate",
                               "candidate_pass_rate", "failed_scorers")}
        for c in failing[:_MAX_LISTED]
    ]
    for key in ("newly_passing", "flaky"):
        comparison[key] = list(comparison.get(key) or [])[:_MAX_LISTED]
    comparison["newly_failing_total"] = len(failing)
    return {**doc, "comparison": comparison, "truncated": True}


def _headline(doc: dict[str, Any]) -> dict[str, Any]:
    """Verdict, policy and the decision's reasons only (cut to a few hundred bytes each)."""
    decision = doc.get("decision") or {}
    reasons = [_cut(r) for r in (decision.get("reasons") or [])[:10]]
    return {
        "feature": _cut(doc.get("feature")), "verdict": doc.get("verdict"),
        "exit_code": doc.get("exit_code"), "policy": _cut(doc.get("policy")),
        "decision": {"verdict": decision.get("verdict"), "reasons": reasons},
        "truncated": True,
    }


def bounded_summary(doc: dict[str, Any], limit: int = MAX_SUMMARY_BYTES) -> dict[str, Any]:
    """`doc` (a report's JSON form) as is when it fits in `limit` bytes, else cut down.

    First the case outputs go, then everything but the verdict and its reasons; a cut summary
    says `"truncated": true`.
    """
    clean = _finite(doc)
    for shrink in (lambda d: d, _without_outputs, _headline):
        shrunk: dict[str, Any] = shrink(clean)
        if _size(shrunk) <= limit:
            return shrunk
    return {"verdict": clean.get("verdict"), "truncated": True}


# -- the table ------------------------------------------------------------------------------


def _record(row: Row[Any]) -> GateRecord:
    return GateRecord(
        id=int(row.id), feature=row.feature, candidate=row.candidate, baseline=row.baseline,
        verdict=Verdict(row.verdict), policy=row.policy, policy_digest=row.policy_digest,
        suite_digest=row.suite_digest, summary=dict(row.summary), actor=row.actor, at=row.at,
    )


def record_gate(
    store: Store, report: GateReport, *, actor: str, now: datetime | None = None
) -> GateRecord:
    """Append `report`'s decision to the store and return it as recorded."""
    if not actor.strip() or len(actor) > 200:
        raise ConfigError(f"invalid actor {actor!r}: give a non-empty name (at most 200 chars)")
    data = report.data
    if not (data.feature and data.candidate and data.baseline):
        raise ConfigError("a gate report needs its feature, candidate and baseline release ids")
    values: dict[str, Any] = {
        "feature": data.feature, "candidate": data.candidate, "baseline": data.baseline,
        "verdict": report.decision.verdict.value, "policy": report.policy_source[:300],
        "policy_digest": policy_digest(report.policy),
        "suite_digest": report.suite_digest or None,
        "summary": bounded_summary(report.to_json()), "actor": actor,
        "at": now or datetime.now(UTC),
    }
    with store.transaction() as conn:
        new_id = int(conn.execute(
            gate_decisions.insert().values(**values).returning(gate_decisions.c.id)
        ).scalar_one())
    return GateRecord(id=new_id, **{**values, "verdict": report.decision.verdict})


def get_gate(store: Store, gate_id: int) -> GateRecord | None:
    with store.reading() as conn:
        row = conn.execute(
            sa.select(gate_decisions).where(gate_decisions.c.id == gate_id)
        ).first()
    return None if row is None else _record(row)


def latest_gate(
    store: Store, feature: str, candidate_id: str, baseline_id: str,
    conn: Connection | None = None,
) -> GateRecord | None:
    """The newest recorded decision on exactly this (candidate, baseline) pair, if any (read
    inside `conn`'s transaction when given)."""
    c = gate_decisions.c
    query = (
        sa.select(gate_decisions)
        .where(c.feature == feature, c.candidate == candidate_id, c.baseline == baseline_id)
        .order_by(c.id.desc())
        .limit(1)
    )
    if conn is not None:
        row = conn.execute(query).first()
    else:
        with store.reading() as reader:
            row = reader.execute(query).first()
    return None if row is None else _record(row)


__all__ = [
    "MAX_SUMMARY_BYTES",
    "GateBasis",
    "GateRecord",
    "bounded_summary",
    "get_gate",
    "latest_gate",
    "policy_digest",
    "record_gate",
]
