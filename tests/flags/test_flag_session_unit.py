"""Flag splits with `unit: session` (issue #17 item 3): a rule's percentage or variations hash the
request's session id (the `session` context key the gateway fills), never the user unit; no
session is no unit (the rule is skipped, TARGETING_KEY_MISSING when nothing else matches)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, make_project  # noqa: E402

from rampway.assign import bucket  # noqa: E402
from rampway.flags import ErrorCode, FlagError, FlagSet, Reason  # noqa: E402
from rampway.flags.serving import evaluation_context  # noqa: E402
from rampway.flags.store import FlagStore  # noqa: E402
from rampway.gateway import CallInput, CallRecord, GatewayApp, Hook, Runtime  # noqa: E402
from rampway.providers.types import Message  # noqa: E402
from rampway.store import Store  # noqa: E402


def flagset(rule: dict[str, Any]) -> FlagSet:
    spec = {"type": "string", "default": "d", "rules": [rule]}
    return FlagSet.from_dict({"flags": {"f": spec}})


def test_a_session_rule_hashes_the_session_not_the_user() -> None:
    fs = flagset({"percentage": 50, "unit": "session", "salt": "s", "value": "on"})
    for i in range(200):
        got = fs.evaluate("f", {"session": f"s-{i}"}, "user-1")
        assert (got.value == "on") == (bucket("s", f"s-{i}") < 5_000)
    seen = {fs.evaluate("f", {"session": f"s-{i}"}, "user-1").value for i in range(50)}
    assert seen == {"on", "d"}  # one user, both sides
    missing = fs.evaluate("f", {}, "user-1")  # a user unit but no session: no fallback
    assert (missing.value, missing.reason, missing.error_code) == (
        "d", Reason.ERROR, ErrorCode.TARGETING_KEY_MISSING)


def test_session_variations_and_unit_user_is_the_default() -> None:
    split = {"variations": [{"name": "a", "value": "A", "weight": 50},
                            {"name": "b", "value": "B", "weight": 50}], "salt": "x"}
    by_session = flagset({**split, "unit": "session"})
    by_user = flagset({**split, "unit": "user"})
    plain = flagset(split)
    for i in range(100):
        ctx = {"session": f"s-{i}"}
        assert by_session.evaluate("f", ctx, "u").variant == plain.evaluate("f", {},
                                                                          f"s-{i}").variant
        assert by_user.evaluate("f", ctx, f"u-{i}") == plain.evaluate("f", {}, f"u-{i}")


@pytest.mark.parametrize(("rule", "path"), [
    ({"percentage": 5, "unit": "device", "value": "on"}, "unit"),
    ({"percentage": 5, "unit": "session", "hash_by": "org.id", "value": "on"}, "unit"),
])
def test_bad_unit_is_an_error_naming_it(rule: dict[str, Any], path: str) -> None:
    with pytest.raises(FlagError) as err:
        flagset(rule)
    assert err.value.path == path


def test_the_gateway_context_carries_the_session_and_an_attribute_cannot_pose_as_one() -> None:
    msgs = [Message("user", "hi")]
    call = CallInput(feature="f", messages=msgs, unit="u-1", session="s-1",
                     attributes={"session": "spoofed"})
    assert evaluation_context(call)["session"] == "s-1"
    none = CallInput(feature="f", messages=msgs, unit="u-1", attributes={"session": "spoofed"})
    assert "session" not in evaluation_context(none)


class Capture(Hook):
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def after_call(self, record: CallRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def served(tmp_path: Path, db_url: str
                 ) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, Proj, Capture]]:
    proj, capture = make_project(tmp_path, db_url), Capture()
    runtime = Runtime.from_project(proj.project, hooks=[capture])
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=GatewayApp(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            yield c, runtime, proj, capture
    finally:
        await runtime.stop()


async def test_a_session_split_through_the_gateway(
    served: tuple[httpx.AsyncClient, Runtime, Proj, Capture],
) -> None:
    client, runtime, proj, capture = served
    with Store.open(proj.db_url) as store:
        FlagStore(store).put("flag", "support-bot.max_tokens", {
            "type": "number", "default": 1000,
            "rules": [{"percentage": 50, "unit": "session", "value": 8}]},
            actor="test", reason="test")
        version = store.control_version()
    deadline = time.monotonic() + 5
    while runtime.watcher.snapshot.version < version:
        assert time.monotonic() < deadline, "the gateway did not reload"
        await asyncio.sleep(0.01)
    split = {}
    for i in range(30):
        r = await client.post("/v1/chat/completions", headers={"X-Rampway-Session": f"s-{i}"},
                              json={"model": "support-bot", "user": "u-1",
                                    "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        resolution = capture.records[-1].resolution
        assert resolution is not None and resolution.flags is not None
        split[i] = resolution.flags["support-bot.max_tokens"].reason is Reason.SPLIT
    assert split == {i: bucket("support-bot.max_tokens", f"s-{i}") < 5_000 for i in range(30)}
    assert len(set(split.values())) == 2  # one user, both sides of the split
