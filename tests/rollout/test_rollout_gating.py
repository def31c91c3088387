"""The gate requirement of a start, as pure decisions (no store): what passes, what is refused
with which hint, and how `rollout status` words each case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rampway.errors import ConfigError
from rampway.gate import GateRecord
from rampway.gate.model import Verdict
from rampway.rollout.gating import GateNeed, describe, refusal, require_gate

NEED = GateNeed("support-bot", "support-bot@c0ffee", "support-bot@0b5e", "production")


def record(verdict: Verdict) -> GateRecord:
    return GateRecord(
        id=7, feature="support-bot", candidate=NEED.candidate, baseline=NEED.baseline,
        verdict=verdict, policy="default policy", policy_digest="d" * 64, suite_digest=None,
        summary={}, actor="ci", at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )


def test_only_a_newest_pass_lets_a_start_through() -> None:
    passed = require_gate(record(Verdict.PASS), need=NEED)
    assert passed == {"skipped": False, **record(Verdict.PASS).brief()}
    for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
        with pytest.raises(ConfigError, match=f"is {verdict.value.upper()} "
                           r"\(#7, 2026-01-02 03:04 UTC\); a rollout needs a PASS"):
            require_gate(record(verdict), need=NEED)
    with pytest.raises(ConfigError, match="has no recorded gate against 'production'"):
        require_gate(None, need=NEED)


def test_an_override_needs_a_reason_and_keeps_what_it_overrode() -> None:
    with pytest.raises(ConfigError, match="needs a reason"):
        require_gate(None, need=NEED, skip_reason="  ")
    skipped = require_gate(record(Verdict.FAIL), need=NEED, skip_reason="P0")
    assert skipped["skipped"] is True and skipped["reason"] == "P0"
    assert skipped["latest"]["verdict"] == "fail"
    assert describe(skipped) == "skipped: P0 (latest gate then: fail #7)"
    assert describe(require_gate(None, need=NEED, skip_reason="P0")) == "skipped: P0"


def test_the_hint_is_one_runnable_line_even_for_odd_refs() -> None:
    odd = GateNeed("support-bot", "support-bot@c0ffee", "support-bot@0b5e", "production",
                   candidate_ref="my candidates/v2")
    message = refusal(None, odd)
    assert "\n" not in message
    assert ("run `rampway gate support-bot --candidate 'my candidates/v2' "
            "--baseline support-bot@0b5e` first") in message
    assert "--candidate support-bot@c0ffee " in refusal(None, NEED)


def test_status_words_a_rollout_from_before_gates_were_recorded() -> None:
    assert describe(None).startswith("not recorded")
    assert describe(record(Verdict.PASS).brief()) == (
        "pass (#7, default policy, by ci at 2026-01-02T03:04:00+00:00)")
