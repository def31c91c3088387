"""Request events record the flags evaluated for the request: key, value, reason, rule (and the
variant or error code when there is one) — through the HTTP gateway and the in-process SDK, on
SQLite and PostgreSQL.

Decision under test: every native flag the feature has is recorded as evaluated, also when it
came out at its default (no rule matched: reason DEFAULT, rule null; no rules: STATIC);
`<feature>.fallback` only when the kill switch was off (it is not evaluated otherwise); a
feature without flags stores NULL.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, first_use_migrates, gateway_client, make_project, rows  # noqa: E402

import rampway  # noqa: E402
from rampway.events import RequestEvent  # noqa: E402
from rampway.events.model import flag_record, flag_records  # noqa: E402
from rampway.events.sink import FlagsJson, SqlEventSink  # noqa: E402
from rampway.events.tables import request_event_rows  # noqa: E402
from rampway.flags import ErrorCode, Evaluation, FlagSet, Reason  # noqa: E402
from rampway.flags.store import FlagStore  # noqa: E402
from rampway.gateway import (  # noqa: E402
    CallInput,
    ChannelResolver,
    Resolution,
    Runtime,
)
from rampway.gateway.control import ControlSnapshot  # noqa: E402
from rampway.store import Store  # noqa: E402

MODEL_FLAG = {
    "type": "string",
    "default": "sim-large",
    "rules": [
        {"condition": {"plan": "enterprise"}, "value": "sim-large-2"},
        {"condition": {"plan": "free"}, "value": "sim/sim-small", "variant": "free-small"},
    ],
}


def put_flags(proj: Proj, flags: dict[str, dict[str, Any]]) -> None:
    with Store.open(proj.db_url) as store:
        for key, definition in flags.items():
            FlagStore(store).put("flag", key, definition, actor="test", reason="test")


def chat(feature: str = "support-bot", plan: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": feature, "user": "u1",
                            "messages": [{"role": "user", "content": "Where is my order?"}]}
    if plan is not None:
        body["metadata"] = {"plan": plan}
    return {**body, **extra}


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
async def gateway(proj: Proj) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    put_flags(proj, {
        "support-bot.model": MODEL_FLAG,
        "support-bot.max_tokens": {"type": "number", "default": 150},
        "support-bot.fallback": {"type": "string", "default": "Back soon."},
        "support-bot.enabled": {"type": "bool", "default": True,
                                "rules": [{"condition": {"plan": "off"}, "value": False}]},
        "tools-bot.model": {"type": "string", "default": "sim-large-2", "rules": [
            {"variations": [{"name": "control", "value": "sim-large-2", "weight": 50},
                            {"name": "treatment", "value": "sim-small", "weight": 50}]}]},
    })
    async with gateway_client(proj.project) as served:
        yield served


async def test_a_model_flag_rule_is_recorded_with_its_value_and_rule_on_the_event_row(
    gateway: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    client, rt = gateway
    r = await client.post("/v1/chat/completions", json=chat(plan="free"))
    assert r.status_code == 200, r.text
    await rt.stop()  # drains the event queue
    (row,) = rows(proj.db_url)
    assert row.id == r.headers["x-request-id"]
    assert row.model == "sim-small"  # the flag changed the model...
    assert row.flags == {  # ...and the row says which flag, which rule, with what value
        "support-bot.model": {"value": "sim/sim-small", "reason": "TARGETING_MATCH", "rule": 1,
                              "variant": "free-small"},
        "support-bot.max_tokens": {"value": 150, "reason": "STATIC", "rule": None},
        "support-bot.enabled": {"value": True, "reason": "DEFAULT", "rule": None},
    }


async def test_no_matching_rule_records_the_defaults_as_evaluated_and_no_flags_is_null(
    gateway: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    client, rt = gateway
    pro = await client.post("/v1/chat/completions", json=chat(plan="pro"))
    anon = await client.post("/v1/chat/completions", json=chat(stream=True))
    echo = await client.post("/v1/chat/completions", json=chat("echo", plan="free"))
    assert {pro.status_code, anon.status_code, echo.status_code} == {200}
    await rt.stop()
    by_id = {row.id: row for row in rows(proj.db_url)}
    default_model = {"value": "sim-large", "reason": "DEFAULT", "rule": None}
    for response in (pro, anon):
        row = by_id[response.headers["x-request-id"]]
        assert row.model == "sim-large"
        assert row.flags["support-bot.model"] == default_model
        assert row.flags["support-bot.enabled"] == {"value": True, "reason": "DEFAULT",
                                                    "rule": None}
        assert "support-bot.fallback" not in row.flags  # not consulted while enabled
    assert by_id[anon.headers["x-request-id"]].stream is True
    assert by_id[echo.headers["x-request-id"]].flags is None  # echo has no flags


async def test_kill_switch_answer_records_enabled_and_the_fallback_it_served(
    gateway: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    client, rt = gateway
    r = await client.post("/v1/chat/completions", json=chat(plan="off"))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Back soon."
    await rt.stop()
    (row,) = rows(proj.db_url)
    assert row.provider == "rampway" and row.model == "fallback"
    assert row.flags["support-bot.enabled"] == {"value": False, "reason": "TARGETING_MATCH",
                                                "rule": 0}
    assert row.flags["support-bot.fallback"] == {"value": "Back soon.", "reason": "STATIC",
                                                 "rule": None}


async def test_a_split_records_the_variation_and_a_split_without_unit_its_error(
    gateway: tuple[httpx.AsyncClient, Runtime], proj: Proj
) -> None:
    client, rt = gateway
    units = [f"user-{i}" for i in range(12)]
    served = {}
    for unit in units:
        r = await client.post("/v1/chat/completions", json={**chat("tools-bot"), "user": unit})
        assert r.status_code == 200, r.text
        served[r.headers["x-request-id"]] = unit
    no_unit = await client.post("/v1/chat/completions",
                                json={k: v for k, v in chat("tools-bot").items() if k != "user"})
    assert no_unit.status_code == 200, no_unit.text
    await rt.stop()
    by_id = {row.id: row for row in rows(proj.db_url)}
    fs = FlagSet.from_dict({"flags": {"tools-bot.model": {
        "type": "string", "default": "sim-large-2", "rules": [{"variations": [
            {"name": "control", "value": "sim-large-2", "weight": 50},
            {"name": "treatment", "value": "sim-small", "weight": 50}]}]}}})
    variants = set()
    for request_id, unit in served.items():
        record = by_id[request_id].flags["tools-bot.model"]
        expected = fs.evaluate("tools-bot.model", {}, unit)
        assert record == {"value": expected.value, "reason": "SPLIT", "rule": 0,
                          "variant": expected.variant}
        assert by_id[request_id].model == expected.value  # the row's model is the arm's
        variants.add(record["variant"])
    assert variants == {"control", "treatment"}
    assert by_id[no_unit.headers["x-request-id"]].flags == {"tools-bot.model": {
        "value": "sim-large-2", "reason": "ERROR", "rule": 0, "error": "TARGETING_KEY_MISSING"}}


async def test_sdk_completion_and_event_row_carry_the_flags(proj: Proj) -> None:
    put_flags(proj, {"support-bot.model": MODEL_FLAG})
    async with rampway.AsyncClient(proj.project) as client:
        free = await client.complete("support-bot", input="hi", unit="u1",
                                     attributes={"plan": "free"})
        plain = await client.complete("echo", input="hi")
        stream = client.stream("support-bot", input="hi", unit="u2",
                               attributes={"plan": "enterprise"})
        async for _ in stream:
            pass
    evaluation = free.flags["support-bot.model"]
    assert (evaluation.value, evaluation.reason, evaluation.rule_index) == (
        "sim/sim-small", Reason.TARGETING_MATCH, 1)
    assert free.model == "sim-small" and dict(plain.flags) == {}
    with pytest.raises(TypeError):
        free.flags["x"] = evaluation  # type: ignore[index]  # read-only: the log shares it
    assert stream.completion is not None
    by_id = {row.id: row for row in rows(proj.db_url)}
    assert by_id[free.request_id].source == "sdk"
    assert by_id[free.request_id].flags == {"support-bot.model": {
        "value": "sim/sim-small", "reason": "TARGETING_MATCH", "rule": 1,
        "variant": "free-small"}}
    assert by_id[plain.request_id].flags is None
    assert by_id[stream.request_id].flags == {"support-bot.model": {
        "value": "sim-large-2", "reason": "TARGETING_MATCH", "rule": 0}}
    assert by_id[stream.request_id].model == "sim-large-2"


# -- the sink's side ----------------------------------------------------------------------------


def test_sink_stores_evaluations_records_and_null(store: Store) -> None:
    hit = Evaluation("sim-small", "v1", Reason.TARGETING_MATCH, None, 2)
    err = Evaluation(64, None, Reason.ERROR, ErrorCode.TARGETING_KEY_MISSING, 0, "no unit")
    SqlEventSink(store).write([
        RequestEvent(id="r1", ts=1.0, feature="f", flags={"f.model": hit, "f.max_tokens": err}),
        RequestEvent(id="r2", ts=2.0, feature="f",
                     flags={"custom": {"value": [1, 2], "reason": "CUSTOM", "rule": None}}),
        RequestEvent(id="r3", ts=3.0, feature="f"),
        RequestEvent(id="r4", ts=4.0, feature="f", flags={}),
    ], [])
    with store.engine.connect() as conn:
        got = {r.id: r.flags for r in conn.execute(sa.select(request_event_rows))}
        nulls = conn.scalar(sa.select(sa.func.count()).where(
            request_event_rows.c.flags.is_(None)))
    assert got["r1"] == {
        "f.model": {"value": "sim-small", "reason": "TARGETING_MATCH", "rule": 2,
                    "variant": "v1"},
        "f.max_tokens": {"value": 64, "reason": "ERROR", "rule": 0,
                         "error": "TARGETING_KEY_MISSING"},
    }
    assert got["r2"] == {"custom": {"value": [1, 2], "reason": "CUSTOM", "rule": None}}
    assert got["r3"] is None and got["r4"] == {} and nulls == 1


def test_a_value_json_cannot_encode_is_stored_as_text_not_a_lost_batch(store: Store) -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd value"

    odd = Evaluation(Odd(), None, Reason.STATIC)
    SqlEventSink(store).write([
        RequestEvent(id="r1", ts=1.0, feature="f", flags={"f.x": odd}),
        RequestEvent(id="r2", ts=2.0, feature="f"),
    ], [])
    with store.engine.connect() as conn:
        got = {r.id: r.flags for r in conn.execute(sa.select(request_event_rows))}
    assert got == {"r1": {"f.x": {"value": "odd value", "reason": "STATIC", "rule": None}},
                   "r2": None}


def test_flag_record_and_row_give_the_stored_form() -> None:
    hit = Evaluation(True, None, Reason.TARGETING_MATCH, None, 0)
    assert flag_record(hit) == {"value": True, "reason": "TARGETING_MATCH", "rule": 0}
    assert type(flag_record(hit)["reason"]) is str
    assert flag_records(None) is None
    event = RequestEvent(id="r", ts=1.0, feature="f", flags={"f.enabled": hit})
    assert event.row()["flags"] == {"f.enabled": {"value": True, "reason": "TARGETING_MATCH",
                                                  "rule": 0}}
    assert event.flags == {"f.enabled": hit}  # row() does not touch the event


class UserFlagResolver:
    """A custom resolver that evaluates a flag of its own (e.g. a prompt experiment)."""

    def __init__(self) -> None:
        self.inner = ChannelResolver()
        self.flagset = FlagSet.from_dict({"flags": {"greeting-test": {
            "type": "string", "default": "plain",
            "rules": [{"condition": {"plan": "free"}, "value": "warm"}]}}})

    def resolve(self, call: CallInput, snapshot: ControlSnapshot) -> Resolution:
        base = self.inner.resolve(call, snapshot)
        seen = {"greeting-test": self.flagset.evaluate("greeting-test", call.attributes)}
        return dataclasses.replace(base, flags=seen)


async def test_flags_a_custom_resolver_evaluated_are_recorded_beside_the_native_ones(
    proj: Proj,
) -> None:
    put_flags(proj, {"support-bot.model": MODEL_FLAG})
    async with rampway.AsyncClient(proj.project, resolver=UserFlagResolver()) as client:
        both = await client.complete("support-bot", input="hi", unit="u1",
                                     attributes={"plan": "free"})
        user_only = await client.complete("echo", input="hi")
    by_id = {row.id: row for row in rows(proj.db_url)}
    assert by_id[both.request_id].flags == {
        "greeting-test": {"value": "warm", "reason": "TARGETING_MATCH", "rule": 0},
        "support-bot.model": {"value": "sim/sim-small", "reason": "TARGETING_MATCH", "rule": 1,
                              "variant": "free-small"},
    }
    assert by_id[user_only.request_id].flags == {
        "greeting-test": {"value": "plain", "reason": "DEFAULT", "rule": None}}
    assert set(both.flags) == {"greeting-test", "support-bot.model"}


def test_flags_json_encodes_like_json_dumps_and_its_memo_is_bounded() -> None:
    shared = Evaluation("sim-small", "é-variant", Reason.SPLIT, None, 3)
    flags = {"bot.model": shared, "bot.ünïcode": {"value": {"a": [1, None]}, "reason": "X",
                                                  "rule": None},
             "bot.max_tokens": Evaluation(64.0, None, Reason.DEFAULT)}
    encode = FlagsJson(max_entries=4)
    assert encode(flags) == json.dumps(flag_records(flags))
    assert encode(flags) == json.dumps(flag_records(flags))  # again, from the memo
    assert json.loads(encode({})) == {}
    for i in range(20):  # fresh objects each time, as JSON-typed flags produce
        one = {"f.json": Evaluation({"i": i}, None, Reason.STATIC)}
        assert json.loads(encode(one)) == {"f.json": {"value": {"i": i}, "reason": "STATIC",
                                                      "rule": None}}
        assert len(encode._memo) <= 4
