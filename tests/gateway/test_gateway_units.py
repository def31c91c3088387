"""The sticky unit is read from what current clients send (issue #17 item 3), with the real
`openai` and `anthropic` clients against a uvicorn-served gateway.

support-bot has `require_unit: true`, so a 200 already proves a unit was found; the event row
(its `unit_hash`) proves which one. Precedence, highest first: X-Rampway-Unit, rampway.unit,
safety_identifier, user, metadata.user_id, metadata.trace_user_id, litellm_metadata.user.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from gateway_helpers import Proj, rows, serve

from rampway.events.model import hash_unit
from rampway.gateway import Runtime
from rampway.gateway._openai import parse_request

ASK = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
def base_url(proj: Proj) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


def _units_by_request(proj: Proj, ids: set[str]) -> dict[str, str | None]:
    """unit_hash per request id, once the event writer has flushed all of `ids` (batches)."""
    deadline = time.monotonic() + 10
    while True:
        found = {row.id: row.unit_hash for row in rows(proj.db_url)}
        if ids <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_openai_client_unit_fields(proj: Proj, base_url: str) -> None:
    sent: dict[str, str] = {}
    with openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as oai:
        calls: dict[str, dict[str, Any]] = {
            "u-safety": {"safety_identifier": "u-safety", "user": "u-ignored"},
            "u-user": {"user": "u-user", "metadata": {"user_id": "u-ignored"}},
            "u-meta": {"metadata": {"user_id": "u-meta", "plan": "pro"}},  # LiteLLM style
            "u-trace": {"metadata": {"trace_user_id": "u-trace"}},
            "u-litellm": {"extra_body": {"litellm_metadata": {"user": "u-litellm"}}},
            "u-header": {"safety_identifier": "u-ignored",
                         "extra_headers": {"X-Rampway-Unit": "u-header"}},
        }
        for unit, kwargs in calls.items():
            raw = oai.chat.completions.with_raw_response.create(
                model="support-bot", messages=ASK, **kwargs)  # type: ignore[arg-type]
            sent[raw.headers["x-request-id"]] = unit
        with pytest.raises(openai.BadRequestError) as missing:
            oai.chat.completions.create(model="support-bot", messages=ASK)  # type: ignore[arg-type]
    assert "unit" in str(missing.value)
    stored = _units_by_request(proj, set(sent))
    assert {rid: stored[rid] for rid in sent} == {rid: hash_unit(u) for rid, u in sent.items()}


def test_anthropic_client_metadata_user_id(proj: Proj, base_url: str) -> None:
    with anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0) as client:
        raw = client.messages.with_raw_response.create(
            model="support-bot", max_tokens=64, messages=ASK,  # type: ignore[arg-type]
            metadata={"user_id": "u-anthropic"})
    request_id = raw.headers["x-request-id"]
    assert _units_by_request(proj, {request_id})[request_id] == hash_unit("u-anthropic")


@pytest.mark.parametrize(("body", "param"), [
    ({"safety_identifier": 7}, "safety_identifier"),
    ({"metadata": {"user_id": True}}, "metadata.user_id"),
    ({"litellm_metadata": {"user": ["u"]}}, "litellm_metadata.user"),
])
def test_a_unit_field_of_the_wrong_type_is_a_400_naming_it(body: dict[str, Any],
                                                           param: str) -> None:
    from rampway.errors import RequestError

    with pytest.raises(RequestError) as err:
        parse_request({"model": "support-bot", "messages": ASK, **body}, {})
    assert err.value.param == param


def test_numeric_metadata_user_id_is_read_as_text() -> None:
    call = parse_request({"model": "m", "messages": ASK, "metadata": {"user_id": 42}}, {})
    assert call.unit == "42"


# -- the session unit, beside the user unit --------------------------------------------------------


def _rows_by_request(proj: Proj, ids: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = {row.id: row for row in rows(proj.db_url)}
        if ids <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_openai_client_sends_a_session_beside_the_user(proj: Proj, base_url: str) -> None:
    sent: dict[str, tuple[str, str | None]] = {}
    with openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as oai:
        calls: dict[tuple[str, str | None], dict[str, Any]] = {
            ("u-1", "s-header"): {"user": "u-1",
                                  "extra_headers": {"X-Rampway-Session": "s-header"}},
            ("u-2", "s-meta"): {"metadata": {"user_id": "u-2", "session_id": "s-meta"}},
            ("u-3", "s-ext"): {"user": "u-3", "extra_body": {"rampway": {"session": "s-ext"}}},
            ("u-4", None): {"user": "u-4"},
        }
        for units, kwargs in calls.items():
            raw = oai.chat.completions.with_raw_response.create(
                model="support-bot", messages=ASK, **kwargs)  # type: ignore[arg-type]
            sent[raw.headers["x-request-id"]] = units
    stored = _rows_by_request(proj, set(sent))
    assert {rid: (stored[rid].unit_hash, stored[rid].session_hash) for rid in sent} == {
        rid: (hash_unit(u), hash_unit(s)) for rid, (u, s) in sent.items()}


def test_anthropic_client_metadata_session_id(proj: Proj, base_url: str) -> None:
    with anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0) as client:
        raw = client.messages.with_raw_response.create(
            model="support-bot", max_tokens=64, messages=ASK,  # type: ignore[arg-type]
            metadata={"user_id": "u-anthropic", "session_id": "s-anthropic"},  # type: ignore[typeddict-unknown-key]
        )
    request_id = raw.headers["x-request-id"]
    row = _rows_by_request(proj, {request_id})[request_id]
    assert (row.unit_hash, row.session_hash) == (hash_unit("u-anthropic"),
                                                 hash_unit("s-anthropic"))


def test_session_precedence_header_then_extension_then_metadata() -> None:
    body = {"model": "m", "messages": ASK, "rampway": {"session": "s-ext"},
            "metadata": {"session_id": "s-meta", "user_id": "u-meta"}}
    assert parse_request(body, {"x-rampway-session": "s-head"}).session == "s-head"
    assert parse_request(body, {}).session == "s-ext"
    del body["rampway"]
    call = parse_request(body, {})
    assert (call.unit, call.session) == ("u-meta", "s-meta")  # two units, neither the other
    assert parse_request({"model": "m", "messages": ASK, "user": "u"}, {}).session is None


@pytest.mark.parametrize(("body", "headers", "param"), [
    ({"metadata": {"session_id": ["s"]}}, {}, "metadata.session_id"),
    ({"rampway": {"session": 7}}, {}, "rampway.session"),
    ({"rampway": {"session": ""}}, {}, "rampway.session"),
    ({}, {"x-rampway-session": "s\x00"}, "X-Rampway-Session"),
])
def test_a_session_field_of_the_wrong_type_is_a_400_naming_it(
    body: dict[str, Any], headers: dict[str, str], param: str
) -> None:
    from rampway.errors import RequestError

    with pytest.raises(RequestError) as err:
        parse_request({"model": "support-bot", "messages": ASK, **body}, headers)
    assert err.value.param == param


def test_anthropic_wire_reads_the_session() -> None:
    from rampway.gateway._anthropic import parse_request as parse_messages

    body = {"model": "m", "max_tokens": 8, "messages": ASK,
            "metadata": {"user_id": "u-1", "session_id": "s-1"}}
    call = parse_messages(body, {})
    assert (call.unit, call.session) == ("u-1", "s-1")
    assert parse_messages(body, {"x-rampway-session": "s-h"}).session == "s-h"


def test_responses_wire_reads_the_session() -> None:
    from rampway.gateway._responses import parse_request as parse_responses

    body = {"model": "m", "input": "hello", "safety_identifier": "u-1",
            "metadata": {"session_id": "s-1"}}
    call = parse_responses(body, {})
    assert (call.unit, call.session) == ("u-1", "s-1")
    assert parse_responses(body, {"x-rampway-session": "s-h"}).session == "s-h"


@pytest.mark.parametrize(("required", "param"), [("session", "metadata.session_id"),
                                                 ("both", "metadata.session_id")])
def test_require_unit_session_refuses_a_request_without_one(proj: Proj, required: str,
                                                            param: str) -> None:
    import yaml

    path = proj.project.config_path
    config = yaml.safe_load(path.read_text())
    config["features"]["support-bot"]["require_unit"] = required
    path.write_text(yaml.safe_dump(config))
    from rampway.config import load_project

    with serve(Runtime.from_project(load_project(proj.project.root))) as url, \
            openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as oai:
        with pytest.raises(openai.BadRequestError) as refused:
            oai.chat.completions.create(model="support-bot", messages=ASK,  # type: ignore[arg-type]
                                        user="u-1")
        assert refused.value.body["param"] == param  # type: ignore[index]
        served = oai.chat.completions.with_raw_response.create(
            model="support-bot", messages=ASK, user="u-1",  # type: ignore[arg-type]
            extra_headers={"X-Rampway-Session": "s-1"})
        assert served.http_response.status_code == 200
        if required == "both":
            with pytest.raises(openai.BadRequestError) as no_user:
                oai.chat.completions.create(model="support-bot", messages=ASK,  # type: ignore[arg-type]
                                            extra_headers={"X-Rampway-Session": "s-1"})
            assert no_user.value.body["param"] == "user"  # type: ignore[index]
