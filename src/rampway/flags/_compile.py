"""Compile validated flags into closures once; evaluate them many times, never raising.

Per rule the work is: condition closure, segment closures, then (only if those hold) one
bucket lookup. Every possible outcome of a rule is an `Evaluation` built at compile time, so
evaluating allocates nothing (except a deep copy of JSON values, which callers may mutate).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from rampway.assign import Allocation, cached_bucket, salt_state
from rampway.errors import FlagError
from rampway.flags._conditions import (
    Predicate,
    compile_condition,
    compile_getter,
    id_member,
    js_number_text,
)
from rampway.flags._model import ErrorCode, Evaluation, Flag, FlagType, Reason, Rule, Segment
from rampway.flags._parse import parse_flag, parse_segment, split_document

Unit = str | None
SegmentTest = Callable[[Mapping[str, Any], Unit], bool]
RuleFn = Callable[[Mapping[str, Any], Unit], Evaluation | None]
FlagFn = Callable[[Mapping[str, Any], Unit], Evaluation]
HashKey = Callable[[Mapping[str, Any], Unit], str | None]


def _reraise(exc: FlagError, **where: Any) -> FlagError:
    """The same error, located inside a flag/rule (paths are prefixed, not replaced)."""
    path = exc.path
    if "prefix" in where:
        prefix = where.pop("prefix")
        path = f"{prefix}.{path}" if path else prefix
    return FlagError(exc.reason, path=path, **where)


# --- segments -----------------------------------------------------------------------------


def compile_segment(segment: Segment, id_lists: Mapping[str, frozenset[str]]) -> SegmentTest:
    if segment.condition is not None:
        try:
            pred = compile_condition(segment.condition, "", id_lists)
        except FlagError as exc:
            raise _reraise(exc, prefix=f"segments.{segment.key}.condition") from exc
        return lambda ctx, unit: pred(ctx)
    ids = segment.ids or frozenset()
    if segment.attribute is None:
        return lambda ctx, unit: unit in ids
    member = id_member(ids)
    get = compile_getter(segment.attribute)
    return lambda ctx, unit: member(get(ctx))


# --- rules --------------------------------------------------------------------------------


def _hash_key(hash_by: str | None) -> HashKey:
    """Where a rule's unit comes from: the evaluation unit, or a context attribute."""
    if hash_by is None:
        return lambda ctx, unit: unit or None
    get = compile_getter(hash_by)

    def from_context(ctx: Mapping[str, Any], unit: Unit) -> str | None:
        v = get(ctx)
        if isinstance(v, str):
            return v or None
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v:
            return js_number_text(v)
        return None

    return from_context


def _targeting(
    flag: str, index: int, rule: Rule, segments: Mapping[str, SegmentTest], id_lists: Any
) -> SegmentTest | None:
    """All of the rule's condition and segments, as one `(ctx, unit) -> bool` (None: always)."""
    pred: Predicate | None = None
    if rule.condition:
        try:
            pred = compile_condition(rule.condition, "", id_lists)
        except FlagError as exc:
            raise _reraise(exc, flag=flag, rule=index, prefix="condition") from exc
    tests: list[SegmentTest] = []
    for key in rule.segments:
        if key not in segments:
            raise FlagError(f"unknown segment '{key}'", flag=flag, rule=index, path="segments")
        tests.append(segments[key])
    if pred is not None:
        p = pred
        tests.insert(0, lambda ctx, unit: p(ctx))
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    items = tuple(tests)
    return lambda ctx, unit: all(t(ctx, unit) for t in items)


def _split(flag: Flag, index: int, rule: Rule) -> RuleFn | None:
    """The pseudorandom part of a rule: outcome per arm, None when the unit is outside."""
    key_of = _hash_key(rule.hash_by)
    missing = Evaluation(
        flag.default,
        None,
        Reason.ERROR,
        ErrorCode.TARGETING_KEY_MISSING,
        index,
        f"rule {index} splits by {rule.hash_by or 'unit'}, which the evaluation did not provide",
    )
    if rule.variations:
        return _variation_split(rule, index, key_of, missing)
    if rule.percentage_bp is None:
        return None
    hit = Evaluation(rule.value, rule.variant, Reason.SPLIT, None, index)
    state, bp = salt_state(rule.salt), rule.percentage_bp
    if rule.hash_by is None:  # inlined: the usual case, one call fewer per evaluation

        def rollout_by_unit(ctx: Mapping[str, Any], unit: Unit) -> Evaluation | None:
            if not unit:
                return missing
            return hit if cached_bucket(state, unit) < bp else None

        return rollout_by_unit

    def rollout(ctx: Mapping[str, Any], unit: Unit) -> Evaluation | None:
        key = key_of(ctx, unit)
        if key is None:
            return missing
        return hit if cached_bucket(state, key) < bp else None

    return rollout


def _variation_split(rule: Rule, index: int, key_of: HashKey, missing: Evaluation) -> RuleFn:
    alloc = Allocation(
        rule.salt,
        [(v.name, v.weight_bp) for v in rule.variations],
        10_000 if rule.percentage_bp is None else rule.percentage_bp,
    )
    outcomes = {
        v.name: Evaluation(v.value, v.name, Reason.SPLIT, None, index) for v in rule.variations
    }

    def split(ctx: Mapping[str, Any], unit: Unit) -> Evaluation | None:
        key = key_of(ctx, unit)
        if key is None:
            return missing
        arm = alloc.assign(key)
        return None if arm is None else outcomes[arm]

    return split


def compile_rule(
    flag: Flag, index: int, segments: Mapping[str, SegmentTest], id_lists: Any
) -> RuleFn:
    """`(ctx, unit) -> Evaluation | None` for one rule; None means "try the next rule"."""
    rule = flag.rules[index]
    split = _split(flag, index, rule)
    hit = Evaluation(rule.value, rule.variant, Reason.TARGETING_MATCH, None, index)
    only_condition = rule.condition and not rule.segments
    if only_condition:  # one closure layer fewer for the most common rule shape
        try:
            pred = compile_condition(rule.condition, "", id_lists)
        except FlagError as exc:
            raise _reraise(exc, flag=flag.key, rule=index, prefix="condition") from exc
        if split is None:
            return lambda ctx, unit: hit if pred(ctx) else None
        return lambda ctx, unit: split(ctx, unit) if pred(ctx) else None
    match = _targeting(flag.key, index, rule, segments, id_lists)
    if split is None:
        if match is None:
            return lambda ctx, unit: hit
        return lambda ctx, unit: hit if match(ctx, unit) else None
    if match is None:
        return split
    return lambda ctx, unit: split(ctx, unit) if match(ctx, unit) else None


# --- flags --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    flag: Flag
    run: FlagFn
    copy_value: bool
    type_mismatch: Evaluation
    invalid_context: Evaluation


def compile_flag(flag: Flag, segments: Mapping[str, SegmentTest], id_lists: Any) -> _Compiled:
    rules = tuple(compile_rule(flag, i, segments, id_lists) for i in range(len(flag.rules)))
    return _Compiled(
        flag=flag,
        run=_flag_fn(flag, rules),
        copy_value=flag.type is FlagType.JSON,
        type_mismatch=_error(flag, ErrorCode.TYPE_MISMATCH, f"flag is of type {flag.type}"),
        invalid_context=_error(
            flag, ErrorCode.INVALID_CONTEXT, "context must be a mapping, unit a string or None"
        ),
    )


def _error(flag: Flag | None, code: ErrorCode, message: str) -> Evaluation:
    value = None if flag is None else flag.default
    return Evaluation(value, None, Reason.ERROR, code, None, message)


def _flag_fn(flag: Flag, rules: tuple[RuleFn, ...]) -> FlagFn:
    if not flag.enabled:
        disabled = Evaluation(flag.default, None, Reason.DISABLED)
        return lambda ctx, unit: disabled
    if not rules:
        static = Evaluation(flag.default, None, Reason.STATIC)
        return lambda ctx, unit: static
    default = Evaluation(flag.default, None, Reason.DEFAULT)

    def run(ctx: Mapping[str, Any], unit: Unit) -> Evaluation:
        skipped = None
        for rule in rules:
            r = rule(ctx, unit)
            if r is not None:
                if r.error_code is None:
                    return r
                skipped = skipped or r
        return skipped or default

    return run


class FlagSet:
    """Flags and segments compiled together; immutable. Build with `from_dict`.

    >>> fs = FlagSet.from_dict({"flags": {"dark": {"type": "bool", "default": False,
    ...     "rules": [{"condition": {"plan": "pro"}, "value": True}]}}})
    >>> fs.evaluate("dark", {"plan": "pro"}).value
    True
    """

    def __init__(self, flags: Mapping[str, Flag], segments: Mapping[str, Segment]) -> None:
        id_lists = {k: s.ids for k, s in segments.items() if s.ids is not None}
        seg_tests = {k: compile_segment(s, id_lists) for k, s in segments.items()}
        self._flags = dict(flags)
        self._segments = dict(segments)
        self._compiled = {k: compile_flag(f, seg_tests, id_lists) for k, f in flags.items()}

    @classmethod
    def from_dict(cls, data: Any) -> FlagSet:
        """Compile one document `{flags: {...}, segments: {...}}`; raises FlagError."""
        flag_specs, segment_specs = split_document(data)
        segments = {k: parse_segment(k, v) for k, v in segment_specs.items()}
        flags = {k: parse_flag(k, v) for k, v in flag_specs.items()}
        return cls(flags, segments)

    @property
    def flags(self) -> Mapping[str, Flag]:
        return dict(self._flags)

    @property
    def segments(self) -> Mapping[str, Segment]:
        return dict(self._segments)

    def __contains__(self, key: object) -> bool:
        return key in self._compiled

    def __len__(self) -> int:
        return len(self._compiled)

    def evaluate(
        self,
        flag_key: str,
        context: Mapping[str, Any],
        unit: str | None = None,
        *,
        expected_type: FlagType | str | None = None,
    ) -> Evaluation:
        """Evaluate a flag for a context and unit. Never raises: errors come back as ERROR.

        `expected_type` ("bool", "string", ...) makes a flag of another type an error
        (TYPE_MISMATCH), which typed accessors such as OpenFeature's need.
        """
        try:
            compiled = self._compiled.get(flag_key) if type(flag_key) is str else None
            if compiled is None:
                return _error(None, ErrorCode.FLAG_NOT_FOUND, f"no flag '{flag_key}'")
            if expected_type is not None and expected_type != compiled.flag.type:
                return compiled.type_mismatch
            if (type(context) is not dict and not isinstance(context, Mapping)) or (
                unit is not None and type(unit) is not str
            ):
                return compiled.invalid_context
            result = compiled.run(context, unit)
            if compiled.copy_value:
                return dataclasses.replace(result, value=copy.deepcopy(result.value))
            return result
        except Exception as exc:  # noqa: BLE001 — the contract: evaluation never throws
            flag = self._flags.get(flag_key) if type(flag_key) is str else None
            return _error(flag, ErrorCode.GENERAL, f"{type(exc).__name__}: {exc}")
