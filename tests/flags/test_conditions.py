"""The condition language, driven by tests/flags/conditions.json (and cross-checked with
GrowthBook's Python SDK when it is installed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rampway.flags import FlagError, compile_condition

DOC = json.loads((Path(__file__).parent / "conditions.json").read_text("utf-8"))
CASES: list[dict[str, Any]] = DOC["cases"]
ERRORS: list[dict[str, Any]] = DOC["errors"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", CASES, ids=[c["name"] for c in CASES])
    if "bad" in metafunc.fixturenames:
        metafunc.parametrize("bad", ERRORS, ids=[c["name"] for c in ERRORS])


def test_condition_vector(case: dict[str, Any]) -> None:
    predicate = compile_condition(case["condition"])
    assert predicate(case["attributes"]) is case["expected"]


def test_condition_vector_agrees_with_growthbook(case: dict[str, Any]) -> None:
    core = pytest.importorskip("growthbook.core")
    assert core.evalCondition(case["attributes"], case["condition"]) is case["expected"]


def test_invalid_condition_is_refused_at_compile_time(bad: dict[str, Any]) -> None:
    with pytest.raises(FlagError) as info:
        compile_condition(bad["condition"])
    assert bad["error"] in str(info.value)


def test_every_operator_has_a_vector() -> None:
    from rampway.flags import OPERATORS

    used = json.dumps([c["condition"] for c in CASES])
    missing = sorted(op for op in OPERATORS if f'"{op}"' not in used)
    assert missing == ["$inGroup", "$notInGroup"]  # need segments: covered in test_flagset.py


def test_error_names_the_path() -> None:
    with pytest.raises(FlagError) as info:
        compile_condition({"$or": [{"plan": {"$in": 3}}]}, "condition")
    assert info.value.path == "condition.$or.0.plan.$in"


WEIRD_VALUES: list[Any] = [
    None,
    0,
    -1.5,
    float("nan"),
    float("inf"),
    "",
    "x",
    True,
    [],
    [None, [1], {"a": None}],
    {"a": {"b": [1, "2", None]}},
    object(),
    b"bytes",
    (1, 2),
    {1: "int key"},
    "\ud800",
]


def test_compiled_conditions_never_raise_on_odd_attributes() -> None:
    predicates = [compile_condition(c["condition"]) for c in CASES]
    for value in WEIRD_VALUES:
        for name in ("plan", "n", "a", "tags", "v", "tools", "request", "items", "s", "o"):
            ctx = {name: value, "a": value, "b": value, "c": value}
            for predicate in predicates:
                assert isinstance(predicate(ctx), bool)
