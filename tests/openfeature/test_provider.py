"""The official openfeature-sdk with rampway's in-process provider."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from gateway_helpers import Proj
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature_helpers import FLAGS

from openfeature import api
from rampway.flags import FlagSet
from rampway.flags.store import FlagStore
from rampway.openfeature.provider import RampwayProvider
from rampway.store import Store


def _client(domain: str, provider: RampwayProvider):  # type: ignore[no-untyped-def]
    api.set_provider(provider, domain)
    return api.get_client(domain)


def test_typed_accessors_reasons_and_variants(domain: str) -> None:
    client = _client(domain, RampwayProvider(FlagSet.from_dict(FLAGS)))
    pro = EvaluationContext("u1", {"plan": "pro", "country": "DE"})
    details = client.get_boolean_details("dark-mode", False, pro)
    assert (details.value, details.reason, details.variant) == (True, Reason.TARGETING_MATCH,
                                                                "pro-on")
    assert details.flag_metadata["ruleIndex"] == 0
    assert client.get_boolean_details("dark-mode", True, EvaluationContext("u1")).reason \
        == Reason.DEFAULT
    assert client.get_string_value("greeting", "x", EvaluationContext("beta-user")) == "hi beta"
    assert client.get_integer_value("limit", 0, pro) == 20
    assert client.get_float_value("ratio", 0.0) == 0.5
    assert client.get_object_value("layout", {}) == {"columns": 2, "tags": ["a"]}
    split = client.get_string_details("experiment", "x", EvaluationContext("user-7"))
    assert split.reason == Reason.SPLIT and split.value in ("A", "B")
    assert split.variant == {"A": "a", "B": "b"}[split.value]
    again = client.get_string_details("experiment", "x", EvaluationContext("user-7"))
    assert again.value == split.value  # sticky


def test_errors_return_the_callers_default_with_an_error_code(domain: str) -> None:
    client = _client(domain, RampwayProvider(FlagSet.from_dict(FLAGS)))
    missing = client.get_boolean_details("nope", True)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    wrong = client.get_boolean_details("greeting", False)
    assert (wrong.value, wrong.error_code) == (False, ErrorCode.TYPE_MISMATCH)
    no_unit = client.get_string_details("experiment", "fallback")
    assert (no_unit.value, no_unit.error_code) == ("fallback", ErrorCode.TARGETING_KEY_MISSING)
    frac = RampwayProvider(FlagSet.from_dict({"flags": {"n": {"type": "number",
                                                              "default": 2.5}}}))
    client2 = _client(domain + "-2", frac)
    assert client2.get_integer_details("n", 7).error_code == ErrorCode.TYPE_MISMATCH
    assert client2.get_float_value("n", 0.0) == 2.5


def test_from_files(domain: str, tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(yaml.safe_dump(FLAGS))
    client = _client(domain, RampwayProvider.from_files([path]))
    assert client.get_integer_value("limit", 0, EvaluationContext("u", {"country": "FR"})) == 20


def test_from_store_follows_changes(domain: str, proj: Proj) -> None:
    with Store.open(proj.db_url) as store:
        flags = FlagStore(store)
        flags.put("flag", "dark-mode", {"type": "bool", "default": False}, actor="t", reason="test")
        client = _client(domain, RampwayProvider.from_store(store, interval=0.05))
        assert client.get_boolean_value("dark-mode", True) is False
        flags.put("flag", "dark-mode", {"type": "bool", "default": True}, actor="t", reason="test")
        deadline = time.monotonic() + 1.0
        while not client.get_boolean_value("dark-mode", False):
            assert time.monotonic() < deadline, "provider did not follow the store"
            time.sleep(0.01)
