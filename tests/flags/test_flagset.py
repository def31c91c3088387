"""Flag evaluation: rule order, segments, splits, reasons, and errors that never escape."""

from __future__ import annotations

from typing import Any

import pytest

from rampway.assign import bucket
from rampway.flags import ErrorCode, Evaluation, FlagError, FlagSet, FlagType, Reason

SEGMENTS = {
    "beta": {"ids": ["u-1", "u-2"]},
    "big-orgs": {"attribute": "org.id", "ids": ["acme", 42]},
    "paid": {"condition": {"plan": {"$in": ["pro", "team"]}}},
}


def flagset(rules: list[dict[str, Any]], **flag: Any) -> FlagSet:
    spec = {"type": "string", "default": "d", "rules": rules, **flag}
    return FlagSet.from_dict({"segments": SEGMENTS, "flags": {"f": spec}})


def test_first_matching_rule_wins() -> None:
    fs = flagset(
        [
            {"condition": {"plan": "pro"}, "value": "first"},
            {"condition": {"plan": {"$exists": True}}, "value": "second"},
        ]
    )
    assert fs.evaluate("f", {"plan": "pro"}) == Evaluation(
        "first", None, Reason.TARGETING_MATCH, None, 0
    )
    assert fs.evaluate("f", {"plan": "free"}).rule_index == 1
    assert fs.evaluate("f", {}) == Evaluation("d", None, Reason.DEFAULT)


def test_rule_without_condition_matches_everyone() -> None:
    fs = flagset([{"value": "all", "variant": "everyone"}])
    ev = fs.evaluate("f", {})
    assert (ev.value, ev.variant, ev.reason) == ("all", "everyone", Reason.TARGETING_MATCH)


def test_segments_by_unit_attribute_and_condition() -> None:
    fs = flagset(
        [
            {"segment": "beta", "value": "beta"},
            {"segments": ["big-orgs", "paid"], "value": "big-paid"},
            {"segment": "paid", "value": "paid"},
        ]
    )
    assert fs.evaluate("f", {}, "u-2").value == "beta"
    assert fs.evaluate("f", {"org": {"id": "acme"}, "plan": "pro"}, "x").value == "big-paid"
    assert fs.evaluate("f", {"org": {"id": 42}, "plan": "team"}, "x").value == "big-paid"
    assert fs.evaluate("f", {"org": {"id": "acme"}, "plan": "free"}, "x").reason == Reason.DEFAULT
    assert fs.evaluate("f", {"org": {"id": "other"}, "plan": "pro"}, "x").value == "paid"
    assert fs.evaluate("f", {}, None).value == "d"


def test_in_group_operator_uses_id_list_segments() -> None:
    fs = flagset(
        [
            {"condition": {"org.id": {"$inGroup": "big-orgs"}}, "value": "in"},
            {"condition": {"user": {"$notInGroup": "beta"}}, "value": "not-beta"},
        ]
    )
    assert fs.evaluate("f", {"org": {"id": "acme"}}).value == "in"
    assert fs.evaluate("f", {"user": "u-9"}).value == "not-beta"
    assert fs.evaluate("f", {"user": "u-1"}).value == "d"


def test_percentage_rollout_matches_buckets_and_falls_through() -> None:
    fs = flagset([{"percentage": 25, "value": "in", "salt": "s1"}, {"value": "out"}])
    for i in range(2_000):
        unit = f"user-{i}"
        ev = fs.evaluate("f", {}, unit)
        if bucket("s1", unit) < 2_500:
            assert (ev.value, ev.reason, ev.rule_index) == ("in", Reason.SPLIT, 0)
        else:
            assert (ev.value, ev.reason, ev.rule_index) == ("out", Reason.TARGETING_MATCH, 1)


def test_percentage_is_sticky_as_it_grows() -> None:
    units = [f"user-{i}" for i in range(5_000)]
    previous: set[str] = set()
    for pct in (1, 5, 12.5, 50, 100):
        fs = flagset([{"percentage": pct, "value": "on"}])
        current = {u for u in units if fs.evaluate("f", {}, u).value == "on"}
        assert previous <= current
        assert abs(len(current) / len(units) - pct / 100) < 0.02
        previous = current


def test_default_salt_is_the_flag_key() -> None:
    fs = flagset([{"percentage": 40, "value": "on"}])
    assert all(
        (fs.evaluate("f", {}, f"u{i}").value == "on") == (bucket("f", f"u{i}") < 4_000)
        for i in range(1_000)
    )


def test_hash_by_attribute_instead_of_unit() -> None:
    fs = flagset([{"percentage": 50, "hash_by": "org.id", "salt": "s", "value": "on"}])
    for org in ["acme", "initech", 7, 12.0]:
        got = fs.evaluate("f", {"org": {"id": org}}, None).value
        key = org if isinstance(org, str) else str(int(org))
        assert (got == "on") == (bucket("s", key) < 5_000)
    missing = fs.evaluate("f", {"org": {"id": ""}}, "unit-ignored")
    assert missing.error_code is ErrorCode.TARGETING_KEY_MISSING


def test_variations_split_by_weight_and_sticky_coverage() -> None:
    rule = {
        "variations": [
            {"name": "a", "value": "A", "weight": 50},
            {"name": "b", "value": "B", "weight": 50},
        ],
        "salt": "exp",
    }
    units = [f"u{i}" for i in range(6_000)]
    seen: dict[str, str | None] = {}
    for coverage in (10, 40, 100):
        fs = flagset([{**rule, "percentage": coverage}])
        evs = {u: fs.evaluate("f", {}, u) for u in units}
        for u, variant in seen.items():
            assert evs[u].variant == variant
        seen = {u: e.variant for u, e in evs.items() if e.reason is Reason.SPLIT}
        share_a = sum(v == "a" for v in seen.values()) / len(units)
        assert abs(share_a - coverage / 200) < 0.02
    assert {evs[u].value for u in units} == {"A", "B"}


def test_default_variation_names_are_indexes() -> None:
    fs = flagset([{"variations": [{"value": "x", "weight": 100}]}])
    assert fs.evaluate("f", {}, "u").variant == "0"


def test_missing_unit_skips_split_rules() -> None:
    fs = flagset([{"percentage": 100, "value": "on"}, {"condition": {"plan": "pro"}, "value": "p"}])
    ev = fs.evaluate("f", {"plan": "free"}, None)
    assert (ev.value, ev.reason, ev.error_code, ev.rule_index) == (
        "d",
        Reason.ERROR,
        ErrorCode.TARGETING_KEY_MISSING,
        0,
    )
    assert fs.evaluate("f", {"plan": "pro"}, None).value == "p"  # a later match still wins
    assert fs.evaluate("f", {"plan": "pro"}, "").error_code is None


def test_static_disabled_and_not_found() -> None:
    fs = FlagSet.from_dict(
        {
            "flags": {
                "s": {"type": "number", "default": 3},
                "off": {
                    "type": "bool",
                    "default": False,
                    "enabled": False,
                    "rules": [{"value": True}],
                },
            }
        }
    )
    assert fs.evaluate("s", {}) == Evaluation(3, None, Reason.STATIC)
    assert fs.evaluate("off", {}) == Evaluation(False, None, Reason.DISABLED)
    nf = fs.evaluate("nope", {})
    assert (nf.value, nf.reason, nf.error_code) == (None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)


def test_type_mismatch_and_invalid_context() -> None:
    fs = flagset([{"value": "x"}])
    tm = fs.evaluate("f", {}, expected_type=FlagType.BOOL)
    assert (tm.value, tm.reason, tm.error_code) == ("d", Reason.ERROR, ErrorCode.TYPE_MISMATCH)
    assert fs.evaluate("f", {}, expected_type="string").value == "x"
    for ctx, unit in [(["not", "a", "mapping"], None), ({}, 123), (None, None)]:
        ev = fs.evaluate("f", ctx, unit)  # type: ignore[arg-type]
        assert ev.error_code is ErrorCode.INVALID_CONTEXT and ev.value == "d"


def test_json_values_are_copied_so_callers_cannot_corrupt_the_flag() -> None:
    fs = FlagSet.from_dict({"flags": {"j": {"type": "json", "default": {"a": [1]}}}})
    first = fs.evaluate("j", {})
    first.value["a"].append(2)
    assert fs.evaluate("j", {}).value == {"a": [1]}


class Exploding(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("boom")


def test_evaluation_never_raises() -> None:
    fs = flagset([{"condition": {"plan": "pro"}, "value": "p"}])
    ev = fs.evaluate("f", Exploding())
    assert (ev.value, ev.reason, ev.error_code) == ("d", Reason.ERROR, ErrorCode.GENERAL)
    assert "boom" in (ev.error_message or "")
    for key in (None, 5, ["f"], {"f": 1}):
        assert fs.evaluate(key, {}).error_code is ErrorCode.FLAG_NOT_FOUND  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flag", "fragment"),
    [
        ({"type": "boolean", "default": True}, "type must be one of"),
        ({"type": "bool"}, "needs a 'default'"),
        ({"type": "bool", "default": "yes"}, "not of the flag's type bool"),
        ({"type": "number", "default": True}, "not of the flag's type number"),
        ({"type": "json", "default": {"a": object()}}, "not of the flag's type json"),
        ({"type": "bool", "default": True, "enabld": False}, "unknown key 'enabld'"),
        (
            {"type": "bool", "default": True, "rules": [{"conditon": {}, "value": True}]},
            "unknown key 'conditon'",
        ),
        (
            {"type": "bool", "default": True, "rules": [{"condition": {"a": 1}}]},
            "exactly one of 'value' or 'variations'",
        ),
        ({"type": "bool", "default": True, "rules": [{"value": 1}]}, "rule 0 value"),
        (
            {"type": "bool", "default": True, "rules": [{"value": True, "percentage": 101}]},
            "within [0, 100]",
        ),
        (
            {"type": "bool", "default": True, "rules": [{"value": True, "percentage": 1.234}]},
            "two decimals",
        ),
        (
            {"type": "bool", "default": True, "rules": [{"segment": "nope", "value": True}]},
            "unknown segment 'nope'",
        ),
        (
            {
                "type": "bool",
                "default": True,
                "rules": [{"condition": {"a": {"$in": 1}}, "value": True}],
            },
            "flag 'f' rule 0 condition.a.$in: $in needs a list",
        ),
        (
            {
                "type": "string",
                "default": "a",
                "rules": [
                    {"variations": [{"value": "a", "weight": 60}, {"value": "b", "weight": 50}]}
                ],
            },
            "more than 100%",
        ),
        (
            {
                "type": "string",
                "default": "a",
                "rules": [
                    {
                        "variations": [
                            {"name": "x", "value": "a", "weight": 1},
                            {"name": "x", "value": "b", "weight": 1},
                        ]
                    }
                ],
            },
            "names must be unique",
        ),
        (
            {
                "type": "string",
                "default": "a",
                "rules": [{"variations": [{"value": 1, "weight": 1}]}],
            },
            "variations.0.value",
        ),
        ({"type": "bool", "default": True, "rules": [{"value": True, "salt": ""}]}, "salt"),
        ({"type": "bool", "default": True, "rules": "all"}, "must be a list of rules"),
    ],
)
def test_invalid_flags_are_refused_with_location(flag: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FlagError) as info:
        FlagSet.from_dict({"segments": SEGMENTS, "flags": {"f": flag}})
    assert fragment in str(info.value)
    assert info.value.flag in ("f", None)


@pytest.mark.parametrize(
    ("segments", "fragment"),
    [
        ({"s": {}}, "exactly one of 'condition' or 'ids'"),
        ({"s": {"ids": "u1"}}, "must be a list of ids"),
        ({"s": {"ids": [True]}}, "ids must be non-empty"),
        ({"s": {"condition": {"a": {"$regex": "["}}}}, "segments.s.condition.a.$regex"),
        ({"s": {"condition": {"a": 1}, "attribute": "x"}}, "only applies to id lists"),
        ({"bad key!": {"ids": []}}, "segment key"),
    ],
)
def test_invalid_segments_are_refused(segments: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FlagError, match=None) as info:
        FlagSet.from_dict({"segments": segments, "flags": {}})
    assert fragment in str(info.value)


def test_document_shape_errors() -> None:
    with pytest.raises(FlagError, match="unknown key 'flag'"):
        FlagSet.from_dict({"flag": {}})
    with pytest.raises(FlagError, match="must be a mapping"):
        FlagSet.from_dict({"flags": [1]})
    assert len(FlagSet.from_dict(None)) == 0
