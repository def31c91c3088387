"""Hedged requests in the router: after `hedge_after_s` the next target is asked too, the first
success wins, the loser is cancelled; a failure on one side leaves the other running."""

from __future__ import annotations

from router_fakes import HANG, OK, FakeRegistry, ScriptedProvider

from rampway.errors import ProviderUnavailable
from rampway.providers.catalog import Catalog
from rampway.providers.types import ChatRequest, Message
from rampway.router import RetryPolicy, RouteLimits, Router, Target, TargetLimits

PRIMARY, BACKUP, THIRD = (Target("primary", "sim-large"), Target("backup", "sim-small"),
                          Target("third", "sim-large-2"))
ASK = ChatRequest(model="x", messages=[Message("user", "hello")])


def _router(*providers: ScriptedProvider, timeout_s: float = 5.0) -> Router:
    limits = RouteLimits(deadline_s=10, default=TargetLimits(timeout_s=timeout_s, attempts=1,
                                                             hedge_after_s=0.02))
    return Router(FakeRegistry(*providers), Catalog.bundled(),
                  retry=RetryPolicy(rand=lambda: 0.0), limits=limits)


async def test_the_hedge_answers_for_a_hung_target_which_is_cancelled() -> None:
    primary, backup = ScriptedProvider("primary", default=HANG), ScriptedProvider("backup")
    routed = await _router(primary, backup).complete(ASK, [PRIMARY, BACKUP])
    assert routed.served_by == BACKUP and routed.hedged and routed.hedge_won
    assert [(a.provider, a.error) for a in routed.attempts] == [
        ("backup", None), ("primary", "hedge_cancelled")]


async def test_a_failed_hedge_leaves_the_first_request_running() -> None:
    hung = ScriptedProvider("primary", script=[HANG])
    failing = ScriptedProvider("backup", default=ProviderUnavailable(
        "down", provider="backup", model="sim-small", status=503))
    # the first request times out after 0.2 s; the third target then answers
    routed = await _router(hung, failing, ScriptedProvider("third"), timeout_s=0.2).complete(
        ASK, [PRIMARY, BACKUP, THIRD])
    assert routed.served_by == THIRD and routed.hedged and not routed.hedge_won
    assert [(a.provider, a.error) for a in routed.attempts] == [
        ("backup", "server_error"), ("primary", "timeout"), ("third", None)]
    assert failing.calls == ["sim-small"]  # the hedge target is not tried a second time


async def test_the_last_target_is_never_hedged() -> None:
    primary = ScriptedProvider("primary")
    routed = await _router(primary).complete(ASK, [PRIMARY])
    assert routed.served_by == PRIMARY and not routed.hedged


async def test_a_features_own_threshold_hedges_only_that_feature() -> None:
    limits = RouteLimits(deadline_s=10, default=TargetLimits(timeout_s=5, attempts=1),
                         feature_hedge_s={"support-bot": 0.02})
    primary = ScriptedProvider("primary", script=[HANG, OK], default=HANG)
    router = Router(FakeRegistry(primary, ScriptedProvider("backup")), Catalog.bundled(),
                    retry=RetryPolicy(rand=lambda: 0.0), limits=limits)
    hedged = await router.complete(ASK, [PRIMARY, BACKUP], feature="support-bot")
    assert hedged.hedged and hedged.served_by == BACKUP
    plain = await router.complete(ASK, [PRIMARY, BACKUP], feature="other")
    assert not plain.hedged and plain.served_by == PRIMARY
