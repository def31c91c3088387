"""Recorded gate decisions: what is kept, the newest-wins lookup, and the size bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rampway.errors import ConfigError
from rampway.gate import GateRecord, latest_gate, record_gate
from rampway.gate.model import CaseChange, GateInput, Verdict
from rampway.gate.policy import Policy, decide
from rampway.gate.records import MAX_SUMMARY_BYTES, bounded_summary, get_gate, policy_digest
from rampway.gate.report import GateReport
from rampway.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def report(
    verdict: Verdict,
    candidate: str = "bot@c",
    baseline: str = "bot@b",
    output: str = "no",
    failing: int = 1,
) -> GateReport:
    """A real decision of the default-free policy: pass, fail (critical cases), inconclusive."""
    critical = verdict is Verdict.FAIL
    changes = tuple(
        CaseChange(f"c{i}", critical, 1.0, 0.0, "yes", output, ("acc",))
        for i in range(failing if verdict is not Verdict.PASS else 0)
    )
    data = GateInput(
        feature="bot", traffic_class="chat", repeats=3, confidence=0.95, axes={},
        n_cases=3 if verdict is Verdict.INCONCLUSIVE else 40, newly_failing=changes,
        baseline=baseline, candidate=candidate,
    )
    policy = Policy()
    decision = decide(policy, data)
    assert decision.verdict is verdict
    return GateReport(data, policy, decision, "policies/bot.yaml", suite_digest="ab" * 32)


def test_a_recorded_decision_keeps_who_what_and_why(store: Store) -> None:
    rec = record_gate(store, report(Verdict.FAIL), actor="ana", now=T0)
    assert isinstance(rec, GateRecord) and rec.verdict is Verdict.FAIL
    again = get_gate(store, rec.id)
    assert again == rec
    assert (rec.feature, rec.candidate, rec.baseline) == ("bot", "bot@c", "bot@b")
    assert (rec.policy, rec.suite_digest, rec.actor, rec.at) == (
        "policies/bot.yaml", "ab" * 32, "ana", T0)
    assert rec.policy_digest == policy_digest(Policy()) and len(rec.policy_digest) == 64
    assert rec.summary["verdict"] == "fail" and rec.summary["exit_code"] == 1
    assert rec.summary["comparison"]["newly_failing"][0]["case_id"] == "c0"
    assert "truncated" not in rec.summary
    assert rec.brief()["at"] == T0.isoformat() and "summary" not in rec.brief()


def test_latest_gate_is_the_newest_on_exactly_that_pair(store: Store) -> None:
    assert latest_gate(store, "bot", "bot@c", "bot@b") is None
    first = record_gate(store, report(Verdict.PASS), actor="ana", now=T0)
    record_gate(store, report(Verdict.FAIL, baseline="bot@other"), actor="ana", now=T0)
    record_gate(store, report(Verdict.FAIL, candidate="bot@x"), actor="ana", now=T0)
    found = latest_gate(store, "bot", "bot@c", "bot@b")
    assert found is not None and found.id == first.id and found.verdict is Verdict.PASS
    later = record_gate(store, report(Verdict.INCONCLUSIVE), actor="bob",
                        now=T0 + timedelta(hours=1))
    found = latest_gate(store, "bot", "bot@c", "bot@b")
    assert found is not None and found.id == later.id
    assert found.verdict is Verdict.INCONCLUSIVE and found.actor == "bob"
    assert latest_gate(store, "other", "bot@c", "bot@b") is None


def test_bad_records_are_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="invalid actor"):
        record_gate(store, report(Verdict.PASS), actor=" ")
    with pytest.raises(ConfigError, match="release ids"):
        record_gate(store, report(Verdict.PASS, candidate=""), actor="ana")
    assert latest_gate(store, "bot", "bot@c", "bot@b") is None


def test_a_huge_report_is_stored_within_the_bound(store: Store) -> None:
    big = report(Verdict.FAIL, output="x" * 5000, failing=200)
    assert len(json.dumps(big.to_json())) > 10 * MAX_SUMMARY_BYTES
    rec = record_gate(store, big, actor="ana")
    stored = get_gate(store, rec.id)
    assert stored is not None
    assert len(json.dumps(stored.summary).encode()) <= MAX_SUMMARY_BYTES
    assert stored.summary["truncated"] is True and stored.summary["verdict"] == "fail"
    comparison = stored.summary["comparison"]
    assert comparison["newly_failing_total"] == 200
    assert "candidate_output" not in comparison["newly_failing"][0]


def test_bounded_summary_keeps_small_docs_and_falls_back_to_the_headline() -> None:
    small = {"verdict": "pass", "comparison": {"axes": {}}, "decision": {"reasons": []}}
    assert bounded_summary(small) == small
    assert bounded_summary({"verdict": "fail", "x": float("nan")}) == {"verdict": "fail",
                                                                      "x": None}
    huge = {"feature": "bot", "verdict": "fail", "exit_code": 1, "policy": "p",
            "comparison": {"axes": {f"m{i}": "y" * 100 for i in range(2000)}},
            "decision": {"verdict": "fail", "reasons": ["r" * 10_000] * 30}}
    cut = bounded_summary(huge)
    assert cut["truncated"] is True and "comparison" not in cut
    assert cut["decision"]["verdict"] == "fail" and len(cut["decision"]["reasons"]) == 10
    assert all(len(r) <= 501 for r in cut["decision"]["reasons"])
    assert bounded_summary(huge, limit=10) == {"verdict": "fail", "truncated": True}
