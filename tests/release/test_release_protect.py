"""Protected channels, the pure part: what rampway.yaml requires and what a move is allowed on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rampway.config import parse_config
from rampway.errors import ChannelProtected, ConfigError
from rampway.gate.model import Verdict
from rampway.gate.records import GateBasis, GateRecord
from rampway.release.protect import MoveFacts, Requirements, decide, requirements

BASIS = GateBasis("policies/bot.yaml", "p1", "evals/bot/suite.yaml", "s1")


def record(verdict: Verdict, policy_digest: str = "p1") -> GateRecord:
    return GateRecord(7, "bot", "bot@bbbb", "bot@aaaa", verdict, "policies/bot.yaml",
                      policy_digest, "s1", {}, "ci", datetime(2026, 12, 1, tzinfo=UTC))


def facts(latest: GateRecord | None = None, serving: str | None = "bot@aaaa",
          approvals: tuple[str, ...] = ()) -> MoveFacts:
    return MoveFacts("bot", "bot@bbbb", serving, latest, BASIS, approvals, "releases/bot")


GATE = Requirements("production", gate=True)


def test_production_is_protected_by_default_and_listed_channels_follow_the_config() -> None:
    assert requirements(None, "production") == GATE
    assert not requirements(None, "canary").protected
    config = parse_config("channels:\n  production: {require: []}\n"
                          "  staging: {require: [gate, approval]}\n")
    assert not requirements(config, "production").protected
    assert requirements(config, "staging") == Requirements("staging", gate=True, approval=True)
    with pytest.raises(ConfigError, match="rampway.yaml:2"):
        parse_config("channels:\n  production: {require: [review]}\n")


def test_a_pass_under_the_current_policy_and_suite_allows_the_move() -> None:
    allowed = decide(GATE, facts(record(Verdict.PASS)), None)
    assert allowed["checked"] == ["gate"] and allowed["gate"]["id"] == 7


@pytest.mark.parametrize(("latest", "fragment"), [
    (None, "has no recorded gate against 'production'"),
    (record(Verdict.FAIL), "is FAIL (#7"),
    (record(Verdict.INCONCLUSIVE), "is INCONCLUSIVE (#7"),
    (record(Verdict.PASS, policy_digest="old"), "the gate policy policies/bot.yaml changed"),
])
def test_anything_but_a_current_pass_is_refused_naming_the_command(
    latest: GateRecord | None, fragment: str
) -> None:
    with pytest.raises(ChannelProtected) as info:
        decide(GATE, facts(latest), None)
    message = info.value.message
    assert message.startswith("channel 'production' of bot is protected: ")
    assert fragment in message and "--skip-gate" in message
    assert "rampway gate bot --candidate releases/bot --baseline bot@aaaa" in message


def test_an_empty_channel_or_the_same_release_needs_nothing() -> None:
    assert decide(GATE, facts(serving=None), None)["checked"] == []
    same = MoveFacts("bot", "bot@aaaa", "bot@aaaa", None, BASIS)
    assert decide(GATE, same, None)["checked"] == []


def test_skip_needs_a_reason_and_says_it_skipped() -> None:
    assert decide(GATE, facts(), "P0")["skipped"] is True
    with pytest.raises(ConfigError, match="needs a reason"):
        decide(GATE, facts(), "  ")


def test_approval_is_needed_when_required() -> None:
    need = Requirements("staging", approval=True)
    with pytest.raises(ChannelProtected, match="rampway release approve bot releases/bot"):
        decide(need, facts(), None)
    assert decide(need, facts(approvals=("ana",)), None)["approved_by"] == ["ana"]
