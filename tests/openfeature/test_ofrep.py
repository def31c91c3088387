"""The official openfeature-provider-ofrep against a real gateway (uvicorn on 127.0.0.1:0)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import Proj, make_project, serve
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature_helpers import FLAGS

from openfeature import api
from rampway.flags.store import FlagStore
from rampway.gateway import Runtime
from rampway.gateway.keys import create_key
from rampway.store import Store

BULK = "/ofrep/v1/evaluate/flags"


def _seed(db_url: str) -> None:
    with Store.open(db_url) as store:
        flags = FlagStore(store)
        for key, definition in FLAGS["segments"].items():
            flags.put("segment", key, definition, actor="t", reason="test")
        for key, definition in FLAGS["flags"].items():
            flags.put("flag", key, definition, actor="t", reason="test")


@pytest.fixture
def server(proj: Proj) -> Iterator[str]:
    _seed(proj.db_url)
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[str]:
    """For the protocol-shape tests, which store nothing of their own: SQLite only."""
    project = make_project(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    _seed(project.db_url)
    with serve(Runtime.from_project(project.project)) as url:
        yield url


def _client(domain: str, url: str, headers: dict[str, str] | None = None) -> Any:
    provider = OFREPProvider(url, headers_factory=(lambda: headers) if headers else None)
    api.set_provider(provider, domain)
    return api.get_client(domain)


def test_official_ofrep_provider_evaluates_every_type(server: str, domain: str) -> None:
    client = _client(domain, server)
    pro = EvaluationContext("u1", {"plan": "pro", "country": "DE"})
    details = client.get_boolean_details("dark-mode", False, pro)
    assert (details.value, details.reason, details.variant) == (True, Reason.TARGETING_MATCH,
                                                                "pro-on")
    assert client.get_boolean_details("dark-mode", True).reason == Reason.DEFAULT
    assert client.get_string_value("greeting", "x", EvaluationContext("beta-user")) == "hi beta"
    assert client.get_integer_value("limit", 0, pro) == 20
    assert client.get_float_value("ratio", 0.0) == 0.5
    assert client.get_object_value("layout", {}) == {"columns": 2, "tags": ["a"]}
    split = client.get_string_details("experiment", "x", EvaluationContext("user-7"))
    assert split.reason == Reason.SPLIT and split.variant in ("a", "b")


def test_official_ofrep_provider_errors(server: str, domain: str) -> None:
    client = _client(domain, server)
    missing = client.get_boolean_details("nope", True)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    wrong = client.get_boolean_details("greeting", False)
    assert (wrong.value, wrong.error_code) == (False, ErrorCode.TYPE_MISMATCH)
    no_unit = client.get_string_details("experiment", "fallback")
    assert (no_unit.value, no_unit.error_code) == ("fallback", ErrorCode.TARGETING_KEY_MISSING)


def test_ofrep_serves_flag_changes_within_a_second(server: str, domain: str, proj: Proj) -> None:
    client = _client(domain, server)
    assert client.get_boolean_value("dark-mode", True) is False
    with Store.open(proj.db_url) as store:
        FlagStore(store).put("flag", "dark-mode", {"type": "bool", "default": True},
                             actor="t", reason="test")
    t0 = time.monotonic()
    while not client.get_boolean_value("dark-mode", False):
        assert time.monotonic() - t0 < 1.0, "OFREP still serves the old value after 1 s"
        time.sleep(0.02)


def test_ofrep_uses_app_keys(server: str, domain: str, proj: Proj) -> None:
    with Store.open(proj.db_url) as store:
        _, key = create_key(store, "flags-reader", features=None, actor="t", reason="test")
    t0 = time.monotonic()
    while httpx.post(server + BULK, json={}).status_code != 401:
        assert time.monotonic() - t0 < 2.0
        time.sleep(0.02)
    anonymous = _client(domain, server)
    denied = anonymous.get_boolean_details("dark-mode", True)
    assert denied.value is True and denied.error_code == ErrorCode.GENERAL
    keyed = _client(domain + "-k", server, {"Authorization": f"Bearer {key}"})
    assert keyed.get_boolean_details("dark-mode", True).error_code is None


def test_bulk_evaluation_etag_and_bad_context(server: str) -> None:
    body = {"context": {"targetingKey": "beta-user", "plan": "pro"}}
    r = httpx.post(server + BULK, json=body)
    assert r.status_code == 200
    flags = {f["key"]: f for f in r.json()["flags"]}
    assert set(flags) == set(FLAGS["flags"])
    assert flags["greeting"]["value"] == "hi beta" and flags["dark-mode"]["value"] is True
    cached = httpx.post(server + BULK, json=body, headers={"if-none-match": r.headers["etag"]})
    assert cached.status_code == 304
    other = httpx.post(server + BULK, json={"context": {"targetingKey": "x"}},
                       headers={"if-none-match": r.headers["etag"]})
    assert other.status_code == 200
    for bad in ({"context": [1, 2]}, {"context": {"targetingKey": 5}}, [1]):
        r = httpx.post(server + BULK, json=bad)
        assert r.status_code == 400 and r.json()["errorCode"] == "INVALID_CONTEXT"
    r = httpx.post(server + BULK + "/dark-mode", content=b"{nope")
    assert r.status_code == 400 and r.json() == {**r.json(), "key": "dark-mode",
                                                 "errorCode": "INVALID_CONTEXT"}
    assert httpx.get(server + BULK).status_code == 400


def test_hostile_contexts_are_invalid_context_not_500(server: str) -> None:
    # Issue #12: deep nesting raised RecursionError (500); a lone-surrogate targeting key would
    # reach the bucketing hash, which cannot encode it.
    deep = b'{"context": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    surrogate = b'{"context": {"targetingKey": "\\ud800", "plan": "pro"}}'
    for body in (deep, surrogate):
        for path in (BULK, BULK + "/greeting"):
            r = httpx.post(server + path, content=body)
            assert r.status_code == 400 and r.json()["errorCode"] == "INVALID_CONTEXT", r.text


def test_integer_values_of_a_float_flag_read_with_get_float(server: str, domain: str,
                                                            proj: Proj) -> None:
    # `ratio` is 1 by default and 0.5 for pro: a float flag, so the integral branch must come
    # back as 1.0 — the official provider type-checks `float` strictly.
    with Store.open(proj.db_url) as store:
        FlagStore(store).put("flag", "ratio", {"type": "number", "default": 1, "rules": [
            {"condition": {"plan": "pro"}, "value": 0.5}]}, actor="t", reason="test")
    client = _client(domain, server)
    t0 = time.monotonic()
    while (got := client.get_float_details("ratio", -1.0)).value == 0.5 or got.error_code:
        assert time.monotonic() - t0 < 2.0, got  # until the watcher sees the new definition
        time.sleep(0.02)
    assert got.value == 1.0 and isinstance(got.value, float) and got.error_code is None
    pro = client.get_float_details("ratio", -1.0, EvaluationContext("u1", {"plan": "pro"}))
    assert (pro.value, pro.error_code) == (0.5, None)
    assert client.get_integer_value("limit", 0) == 10  # integers-only stays an integer


def test_variant_is_always_a_string(sqlite_server: str) -> None:
    body = {"context": {"targetingKey": "user-7", "plan": "pro", "country": "DE"}}
    flags = httpx.post(sqlite_server + BULK, json=body).json()["flags"]
    variants = {f["key"]: f["variant"] for f in flags}
    assert all(isinstance(v, str) and v for v in variants.values()), variants
    assert variants["dark-mode"] == "pro-on"  # a declared name wins
    assert variants["limit"] == "rule-0" and variants["ratio"] == "default"
    one = httpx.post(sqlite_server + BULK + "/greeting", json={}).json()
    assert one["variant"] == "default" and "variant" in one


def test_weak_list_and_star_if_none_match_give_304(sqlite_server: str) -> None:
    body = {"context": {"targetingKey": "beta-user"}}
    tag = httpx.post(sqlite_server + BULK, json=body).headers["etag"]
    for header in (tag, f"W/{tag}", f'"other", W/{tag}', "*"):
        r = httpx.post(sqlite_server + BULK, json=body, headers={"if-none-match": header})
        assert r.status_code == 304, header
    r = httpx.post(sqlite_server + BULK, json=body, headers={"if-none-match": '"other", W/"x"'})
    assert r.status_code == 200


def test_configuration_endpoint(sqlite_server: str) -> None:
    r = httpx.get(sqlite_server + "/ofrep/v1/configuration")
    assert r.status_code == 200
    caps = r.json()["capabilities"]
    assert caps["cacheInvalidation"]["polling"] == {"enabled": True,
                                                    "minPollingIntervalMs": 1000}
    assert caps["flagEvaluation"] == {"unsupportedTypes": []}
    assert httpx.post(sqlite_server + "/ofrep/v1/configuration", json={}).status_code == 400
