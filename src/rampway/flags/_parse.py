"""Plain definitions (the shape of `flags/*.yaml`) into validated models.

Every error is a `FlagError` carrying the flag, the rule index and the key path inside the
definition, so the file loader can point at `file:line`. Unknown keys are errors: a typo like
`conditon:` must not silently widen a rule to everyone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from rampway.errors import FlagError
from rampway.flags._model import Flag, FlagType, Rule, Segment, Variation

#: The evaluation-context key holding the session id (`unit: session` rules hash it).
SESSION_KEY = "session"
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*")
_FLAG_KEYS = frozenset({"type", "default", "enabled", "description", "rules"})
_RULE_KEYS = frozenset(
    {
        "condition",
        "segment",
        "segments",
        "value",
        "variant",
        "percentage",
        "variations",
        "salt",
        "hash_by",
        "unit",
        "description",
    }
)
_VARIATION_KEYS = frozenset({"name", "value", "weight"})
_SEGMENT_KEYS = frozenset({"condition", "ids", "attribute", "description"})
_TOP_KEYS = frozenset({"flags", "segments"})


def check_key(kind: str, key: Any, path: str, **where: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise FlagError(
            f"{kind} key {key!r} must be letters, digits and _ . : / -", path=path, **where
        )
    return key


def _mapping(value: Any, what: str, allowed: frozenset[str], **where: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FlagError(f"{what} must be a mapping", **where)
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise FlagError(
            f"unknown key '{unknown[0]}' in {what} (allowed: {', '.join(sorted(allowed))})",
            **where,
        )
    return value


def split_document(data: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(flags, segments) mappings of one document; an empty document has neither."""
    if data is None:
        return {}, {}
    doc = _mapping(data, "a flags document", _TOP_KEYS)
    flags = doc.get("flags") or {}
    segments = doc.get("segments") or {}
    if not isinstance(flags, Mapping):
        raise FlagError("must be a mapping of flag key -> definition", path="flags")
    if not isinstance(segments, Mapping):
        raise FlagError("must be a mapping of segment key -> definition", path="segments")
    return flags, segments


# --- segments -----------------------------------------------------------------------------


def parse_segment(key: Any, spec: Any) -> Segment:
    where = f"segments.{key}"
    check_key("segment", key, where)
    spec = _mapping(spec, f"segment '{key}'", _SEGMENT_KEYS, path=where)
    has_cond, has_ids = "condition" in spec, "ids" in spec
    if has_cond == has_ids:
        raise FlagError("a segment needs exactly one of 'condition' or 'ids'", path=where)
    if has_cond:
        if "attribute" in spec:
            raise FlagError("'attribute' only applies to id lists", path=f"{where}.attribute")
        if not isinstance(spec["condition"], Mapping):
            raise FlagError("must be a mapping", path=f"{where}.condition")
        return Segment(key=key, condition=dict(spec["condition"]))
    return Segment(
        key=key, ids=_ids(spec["ids"], f"{where}.ids"), attribute=_attribute(spec, where)
    )


def _ids(value: Any, path: str) -> frozenset[str]:
    if not isinstance(value, list | tuple):
        raise FlagError("must be a list of ids", path=path)
    out: set[str] = set()
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int) or item == "":
            raise FlagError("ids must be non-empty strings or integers", path=f"{path}.{i}")
        out.add(str(item))
    return frozenset(out)


def _attribute(spec: Mapping[str, Any], where: str) -> str | None:
    attribute = spec.get("attribute")
    if attribute is not None and (not isinstance(attribute, str) or not attribute):
        raise FlagError("must be an attribute path such as org.id", path=f"{where}.attribute")
    return attribute


# --- flags --------------------------------------------------------------------------------


def parse_flag(key: Any, spec: Any) -> Flag:
    check_key("flag", key, f"flags.{key}")
    spec = _mapping(spec, "a flag definition", _FLAG_KEYS, flag=key)
    try:
        ftype = FlagType(spec.get("type"))
    except ValueError:
        kinds = ", ".join(t.value for t in FlagType)
        raise FlagError(f"type must be one of {kinds}", flag=key, path="type") from None
    if "default" not in spec:
        raise FlagError("a flag needs a 'default' value", flag=key)
    check_value(ftype, spec["default"], flag=key, path="default")
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise FlagError("must be true or false", flag=key, path="enabled")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise FlagError("must be a string", flag=key, path="description")
    rules_spec = spec.get("rules") or []
    if not isinstance(rules_spec, list | tuple):
        raise FlagError("must be a list of rules", flag=key, path="rules")
    rules = tuple(_parse_rule(key, ftype, i, r) for i, r in enumerate(rules_spec))
    return Flag(key, ftype, spec["default"], rules, enabled, description)


def check_value(ftype: FlagType, value: Any, **where: Any) -> None:
    """Raise FlagError unless `value` is of the flag's type."""
    ok = {
        FlagType.BOOL: lambda v: isinstance(v, bool),
        FlagType.STRING: lambda v: isinstance(v, str),
        FlagType.NUMBER: lambda v: _is_number(v),
        FlagType.JSON: lambda v: _is_json(v),
    }[ftype](value)
    if not ok:
        raise FlagError(f"value {value!r} is not of the flag's type {ftype.value}", **where)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_json(v: Any) -> bool:
    if v is None or isinstance(v, str | bool) or _is_number(v):
        return True
    if isinstance(v, list | tuple):
        return all(_is_json(x) for x in v)
    if isinstance(v, Mapping):
        return all(isinstance(k, str) and _is_json(x) for k, x in v.items())
    return False


def _parse_rule(flag: str, ftype: FlagType, index: int, spec: Any) -> Rule:
    where: dict[str, Any] = {"flag": flag, "rule": index}
    spec = _mapping(spec, "a rule", _RULE_KEYS, **where)
    condition = spec.get("condition")
    if condition is not None and not isinstance(condition, Mapping):
        raise FlagError("must be a mapping", path="condition", **where)
    if ("value" in spec) == ("variations" in spec):
        raise FlagError("a rule needs exactly one of 'value' or 'variations'", **where)
    variations: tuple[Variation, ...] = ()
    if "value" in spec:
        check_value(ftype, spec["value"], path="value", **where)
    else:
        variations = _parse_variations(ftype, spec["variations"], where)
    variant = spec.get("variant")
    if variant is not None and (not isinstance(variant, str) or not variant or variations):
        raise FlagError("a non-empty string, only for rules with a value", path="variant", **where)
    return Rule(
        condition=dict(condition) if condition is not None else None,
        segments=_rule_segments(spec, where),
        value=spec.get("value"),
        variant=variant,
        percentage_bp=_percentage(spec.get("percentage"), where),
        variations=variations,
        salt=_salt(spec.get("salt", flag), where),
        hash_by=_hash_by(spec, where),
    )


def _rule_segments(spec: Mapping[str, Any], where: dict[str, Any]) -> tuple[str, ...]:
    if "segment" in spec and "segments" in spec:
        raise FlagError("use either 'segment' or 'segments'", **where)
    if "segment" in spec:
        return (check_key("segment", spec["segment"], "segment", **where),)
    names = spec.get("segments", [])
    if not isinstance(names, list | tuple):
        raise FlagError("must be a list of segment keys", path="segments", **where)
    return tuple(check_key("segment", n, f"segments.{i}", **where) for i, n in enumerate(names))


def _percentage(value: Any, where: dict[str, Any], path: str = "percentage") -> int | None:
    """Percent (0-100, at most two decimals) to basis points."""
    if value is None:
        return None
    if not _is_number(value) or not 0 <= value <= 100:
        raise FlagError("must be a number of percent within [0, 100]", path=path, **where)
    bp = round(value * 100)
    if abs(value * 100 - bp) > 1e-6:
        raise FlagError("at most two decimals (basis points)", path=path, **where)
    return int(bp)


def _parse_variations(ftype: FlagType, value: Any, where: dict[str, Any]) -> tuple[Variation, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise FlagError("must be a non-empty list", path="variations", **where)
    out: list[Variation] = []
    for i, spec in enumerate(value):
        path = f"variations.{i}"
        spec = _mapping(spec, "a variation", _VARIATION_KEYS, path=path, **where)
        if "value" not in spec or "weight" not in spec:
            raise FlagError("a variation needs 'value' and 'weight'", path=path, **where)
        check_value(ftype, spec["value"], path=f"{path}.value", **where)
        weight = _percentage(spec["weight"], where, f"{path}.weight")
        name = spec.get("name", str(i))
        if not isinstance(name, str) or not name:
            raise FlagError("must be a non-empty string", path=f"{path}.name", **where)
        out.append(Variation(spec["value"], weight or 0, name))
    if len({v.name for v in out}) != len(out):
        raise FlagError("variation names must be unique", path="variations", **where)
    total = sum(v.weight_bp for v in out)
    if total > 10_000:
        raise FlagError(
            f"weights sum to {total / 100:g}%, more than 100%", path="variations", **where
        )
    return tuple(out)


def _salt(value: Any, where: dict[str, Any]) -> str:
    if not isinstance(value, str) or not value:
        raise FlagError("must be a non-empty string", path="salt", **where)
    return value


def _hash_by(spec: Mapping[str, Any], where: dict[str, Any]) -> str | None:
    """`hash_by`, or `unit: session` — the same as `hash_by: session`, the context key the
    gateway fills with the request's session id; `unit: user` is the evaluation unit."""
    value, unit = spec.get("hash_by"), spec.get("unit")
    if unit is not None:
        if unit not in ("user", "session"):
            raise FlagError("must be 'user' or 'session'", path="unit", **where)
        if value is not None:
            raise FlagError("use either 'unit' or 'hash_by'", path="unit", **where)
        return SESSION_KEY if unit == "session" else None
    if value is not None and (not isinstance(value, str) or not value):
        raise FlagError("must be an attribute path", path="hash_by", **where)
    return value
