"""The gate requirement of a start, as pure decisions (no store): what passes, what is refused
with which hint, and how `rollout status` words each case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rampway.errors import ConfigError
from rampway.gate import GateRecord
from rampway.gate.model import Verdict
from rampway.gate.records import GateBasis
from rampway.rollout.gating import GateNeed, changed_since, describe, refusal, require_gate

NEED = GateNeed("support-bot", "support-bot@c0ffee", "support-bot@0b5e", "production")
SUITE = "evals/support-bot/suite.yaml"
NOW = GateBasis("default policy", "d" * 64, SUITE, "5" * 64)  # what the repo has now


def record(verdict: Verdict, policy_digest: str = "d" * 64, suite_digest: str | None = None,
           policy: str = "default policy") -> GateRecord:
    return GateRecord(
        id=7, feature="support-bot", candidate=NEED.candidate, baseline=NEED.baseline,
        verdict=verdict, policy=policy, policy_digest=policy_digest, suite_digest=suite_digest,
        summary={}, actor="ci", at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )


def checked(current: GateBasis = NOW) -> GateNeed:
    return GateNeed(NEED.feature, NEED.candidate, NEED.baseline, NEED.channel, current=current)


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


def test_status_words_a_rollout_from_before_gates_were_recorded_or_checked() -> None:
    assert describe(None).startswith("not recorded")
    assert describe({"skipped": False, **record(Verdict.PASS).brief()}) == (
        "pass (#7, default policy, by ci at 2026-01-02T03:04:00+00:00; "
        "policy and suite not checked against the repo)")


def test_a_pass_under_the_current_policy_and_suite_counts_and_says_it_was_checked() -> None:
    current = record(Verdict.PASS, suite_digest="5" * 64)
    passed = require_gate(current, need=checked())
    assert passed == {"skipped": False, **current.brief(), "basis_checked": True}
    assert describe(passed) == "pass (#7, default policy, by ci at 2026-01-02T03:04:00+00:00)"
    # the same content under another name (a policy file spelling out the default) is the same
    renamed = GateBasis("policies/support-bot.yaml", "d" * 64, SUITE, "5" * 64)
    assert require_gate(current, need=checked(renamed))["basis_checked"] is True


@pytest.mark.parametrize(("policy_digest", "suite_digest", "what"), [
    ("e" * 64, "5" * 64, "the gate policy default policy changed since"),
    ("d" * 64, "4" * 64, f"the eval suite {SUITE} changed since"),
    ("e" * 64, "4" * 64, f"the gate policy default policy and the eval suite {SUITE} changed"),
    ("d" * 64, None, f"the eval suite {SUITE} changed since"),  # no digest matches no suite
])
def test_a_pass_under_another_policy_or_suite_is_refused_naming_what_changed_and_when(
    policy_digest: str, suite_digest: str | None, what: str
) -> None:
    stale = record(Verdict.PASS, policy_digest, suite_digest)
    with pytest.raises(ConfigError) as refused:
        require_gate(stale, need=checked())
    message = refused.value.message
    assert message.startswith(what), message
    assert ("since candidate support-bot@c0ffee passed its gate against 'production' "
            "(support-bot@0b5e) on 2026-01-02 03:04 UTC (#7): gate it again with "
            "`rampway gate support-bot --candidate support-bot@c0ffee "
            "--baseline support-bot@0b5e` (or override with --skip-gate --reason") in message
    assert "\n" not in message
    # without the repo's basis (a caller that cannot read it) the verdict alone decides
    assert "basis_checked" not in require_gate(stale, need=NEED)


def test_a_policy_file_replacing_the_default_is_named_with_what_it_replaced() -> None:
    now = GateBasis("policies/support-bot.yaml", "e" * 64, SUITE, "5" * 64)
    assert changed_since(record(Verdict.PASS, suite_digest="5" * 64), now) == ["policy"]
    with pytest.raises(ConfigError, match=r"^the gate policy policies/support-bot\.yaml "
                       r"\(was default policy\) changed since candidate"):
        require_gate(record(Verdict.PASS, suite_digest="5" * 64), need=checked(now))


def test_a_fail_is_refused_as_a_fail_whatever_its_basis_and_overriding_still_works() -> None:
    with pytest.raises(ConfigError, match="is FAIL"):
        require_gate(record(Verdict.FAIL, "e" * 64, "4" * 64), need=checked())
    stale = record(Verdict.PASS, "e" * 64, "4" * 64)
    skipped = require_gate(stale, need=checked(), skip_reason="P0")
    assert skipped == {"skipped": True, "reason": "P0", "latest": stale.brief()}



def test_a_pass_that_cannot_be_checked_is_refused_but_a_missing_one_is_named_first() -> None:
    missing = f"no eval suite for 'support-bot': expected {SUITE}"
    broken = GateBasis("", "", SUITE, "", problem=missing)
    with pytest.raises(ConfigError) as refused:
        require_gate(record(Verdict.PASS, suite_digest="5" * 64), need=checked(broken))
    assert refused.value.message == (
        "cannot tell whether gate #7 (candidate support-bot@c0ffee passed against 'production') "
        f"holds under the current policy and suite: {missing}; "
        "fix that, then run `rampway gate support-bot --candidate support-bot@c0ffee "
        "--baseline support-bot@0b5e` (or override with --skip-gate --reason \"…\")")
    with pytest.raises(ConfigError, match="has no recorded gate"):
        require_gate(None, need=checked(broken))
    with pytest.raises(ConfigError, match="is FAIL"):
        require_gate(record(Verdict.FAIL), need=checked(broken))
