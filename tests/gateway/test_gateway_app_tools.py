"""App-sent tools on a release that owns its tools (issue #17 item 2): merged, replacing or
refused by the release's `tools_from_app` — never ignored. Real `openai` and `anthropic` clients
against a served gateway, the SDK in-process, the simulator behind them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from gateway_helpers import SYSTEM_V1, TOOLS, Proj, serve, support_spec, write_release

import rampway
from rampway.errors import RequestError
from rampway.gateway import Runtime
from rampway.gateway.app_tools import combine_tools
from rampway.gateway.call import CallInput
from rampway.providers.types import Message
from rampway.release import Release, load_release
from rampway.store import Store

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
FORCE_WEATHER = {"type": "function", "function": {"name": "get_weather"}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
ANTHROPIC_WEATHER = {"name": "get_weather", "description": "The weather in a city.",
                     "input_schema": WEATHER["function"]["parameters"]}


def _publish(proj: Proj, tmp: Path, rule: str | None, tools: list[dict[str, Any]]) -> Release:
    """A managed support-bot release with `tools` and `tools_from_app: rule`, on production."""
    spec = {**support_spec("sim-large"), "tools": tools}
    if rule is not None:
        spec["tools_from_app"] = rule
    directory = write_release(tmp / f"rule-{rule}", "support-bot", spec,
                              {"prompts/system.md": SYSTEM_V1})
    release = load_release(directory, feature="support-bot")
    with Store.open(proj.db_url) as store:
        store.publish(release.feature, release.digest, release.id, release.canonical, actor="t",
                      reason="test")
        store.set_channel("support-bot", "production", release.id, actor="t", reason=str(rule))
    return release


@pytest.fixture
def base_url(proj: Proj) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


def _oai(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0)


# -- the rule, as plain data ----------------------------------------------------------------------


def test_refuse_accepts_the_release_own_tools_and_a_choice_among_them() -> None:
    tools, choice = combine_tools(None, "r@1", TOOLS, json.loads(json.dumps(TOOLS)),
                                  {"type": "function", "function": {"name": "lookup_order"}})
    assert tools == TOOLS and choice == {"type": "function",
                                         "function": {"name": "lookup_order"}}


@pytest.mark.parametrize(("rule", "app", "choice", "param", "words"), [
    (None, [WEATHER], None, "tools", "owns its tools (tools_from_app: refuse)"),
    ("refuse", None, FORCE_WEATHER, "tool_choice", "not a tool of release r@1"),
    ("merge", [{**TOOLS[0], "function": {**TOOLS[0]["function"], "description": "other"}}],
     None, "tools", "differs from the one release r@1 declares"),
    ("merge", [WEATHER, WEATHER], None, "tools", "declares 'get_weather' twice"),
    ("replace", [WEATHER], {"type": "function", "function": {"name": "lookup_order"}},
     "tool_choice", "'lookup_order', which is not a tool"),
    ("refuse", None, "required", None, None),
])
def test_what_the_rule_refuses_names_the_field(rule: Any, app: Any, choice: Any,
                                                param: str | None, words: str | None) -> None:
    if param is None:  # the release's own tools, forced: fine
        assert combine_tools(rule, "r@1", TOOLS, app, choice) == (TOOLS, choice)
        return
    with pytest.raises(RequestError, match=re.escape(words or "")) as info:
        combine_tools(rule, "r@1", TOOLS, app, choice)
    assert info.value.param == param


def test_merge_appends_and_replace_substitutes() -> None:
    assert combine_tools("merge", "r@1", TOOLS, [WEATHER, TOOLS[0]], None)[0] == [*TOOLS, WEATHER]
    assert combine_tools("replace", "r@1", TOOLS, [WEATHER], None)[0] == [WEATHER]
    assert combine_tools("replace", "r@1", TOOLS, None, "auto") == (TOOLS, "auto")
    # a release that owns nothing passes the app's tools through
    assert combine_tools(None, None, None, [WEATHER], FORCE_WEATHER) == ([WEATHER], FORCE_WEATHER)


def test_an_unset_rule_keeps_release_ids(proj: Proj, tmp_path: Path) -> None:
    """`tools_from_app` unset stays out of the canonical form: existing ids do not move."""
    assert "tools_from_app" not in proj.v1.canonical
    explicit = _publish(proj, tmp_path, "refuse", [])
    assert '"tools_from_app":"refuse"' in explicit.canonical and explicit.id != proj.v1.id


# -- through the wires ----------------------------------------------------------------------------


def test_forcing_an_app_tool_on_a_managed_feature_is_a_400_not_a_plain_answer(
        base_url: str) -> None:
    """The issue's case: `get_weather` forced on support-bot (managed, no rule declared)."""
    with _oai(base_url) as oai, pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="support-bot", messages=ASK,  # type: ignore[arg-type]
                                    user="u-1", tools=[WEATHER],  # type: ignore[list-item]
                                    tool_choice=FORCE_WEATHER)  # type: ignore[arg-type]
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "tools"
    assert "owns its tools" in body["message"]
    with (anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0) as client,
          pytest.raises(anthropic.BadRequestError, match="owns its tools")):
        client.messages.create(model="support-bot", max_tokens=100, metadata={"user_id": "u"},
                               tools=[ANTHROPIC_WEATHER],  # type: ignore[list-item]
                               messages=ASK)  # type: ignore[arg-type]


def test_merge_lets_the_app_force_its_own_tool(proj: Proj, tmp_path: Path) -> None:
    release = _publish(proj, tmp_path, "merge", TOOLS)
    with serve(Runtime.from_project(proj.project)) as url, _oai(url) as oai:
        raw = oai.chat.completions.with_raw_response.create(
            model="support-bot", messages=ASK, user="u-1",  # type: ignore[arg-type]
            tools=[WEATHER], tool_choice=FORCE_WEATHER)  # type: ignore[list-item,arg-type]
        done = raw.parse()
        assert raw.headers["x-rampway-release"] == release.id
        (call,) = done.choices[0].message.tool_calls or []
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert done.choices[0].finish_reason == "tool_calls"
        with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client:
            message = client.messages.create(
                model="support-bot", max_tokens=100, metadata={"user_id": "u-1"},
                tools=[ANTHROPIC_WEATHER],  # type: ignore[list-item]
                tool_choice={"type": "tool", "name": "get_weather"},
                messages=ASK)  # type: ignore[arg-type]
    assert message.stop_reason == "tool_use"
    assert [b.name for b in message.content if b.type == "tool_use"] == ["get_weather"]


async def test_merge_reaches_the_upstream_with_both_tools(proj: Proj, tmp_path: Path) -> None:
    _publish(proj, tmp_path, "merge", TOOLS)
    runtime = Runtime.from_project(proj.project)
    await runtime.start()
    try:
        record = runtime.pipeline.prepare(CallInput(
            "support-bot", [Message("user", "hi")], unit="u", params={"tools": [WEATHER]}))
    finally:
        await runtime.stop()
    assert record.request is not None and record.request.tools is not None
    names = [t["function"]["name"] for t in record.request.tools]
    assert names == ["lookup_order", "get_weather"]


def test_replace_serves_the_app_tools_instead(proj: Proj, tmp_path: Path) -> None:
    _publish(proj, tmp_path, "replace", TOOLS)
    with rampway.Client(proj.project) as client:
        out = client.complete("support-bot", input="What is the weather in Paris?", unit="u",
                              tools=[WEATHER], tool_choice="required")
        assert [t.name for t in out.tool_calls or []] == ["get_weather"]
        with pytest.raises(RequestError, match="not a tool of release") as info:
            client.complete("support-bot", input="x", unit="u", tools=[WEATHER],
                            tool_choice={"type": "function",
                                         "function": {"name": "lookup_order"}})
    assert info.value.param == "tool_choice"


def test_the_sdk_refuses_like_the_gateway(proj: Proj) -> None:
    with rampway.Client(proj.project) as client, \
            pytest.raises(RequestError, match="owns its tools") as info:
        client.complete("support-bot", input="weather?", unit="u", tools=[WEATHER])
    assert info.value.param == "tools"


def test_refuse_accepts_the_release_own_tools_through_the_client(base_url: str) -> None:
    """tools-bot declares lookup_order: an app re-sending that very tool is served."""
    with _oai(base_url) as oai:
        done = oai.chat.completions.create(
            model="tools-bot", messages=[{"role": "user", "content": "Where is order A-1?"}],
            tools=TOOLS, tool_choice="required")  # type: ignore[arg-type]
        assert done.choices[0].finish_reason == "tool_calls"
        with pytest.raises(openai.BadRequestError, match="owns its tools"):
            oai.chat.completions.create(model="tools-bot", messages=ASK,  # type: ignore[arg-type]
                                        tools=[WEATHER])  # type: ignore[list-item]
