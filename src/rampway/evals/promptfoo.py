"""Convert a promptfoo config (prompts, vars, tests, common assertions) into a rampway suite.

Pure: `convert(config, source)` returns the suite document, the prompts found and a list of
what could not be converted (each naming the test and assertion), so nothing is dropped
silently. Each promptfoo assertion becomes a named scorer; a case lists the scorers its
assertions map to (`scorers:`) and carries their expected values under `expect`.

    equals → exact                 contains / icontains → contains (case-(in)sensitive)
    contains-any / contains-all    not-contains / not-icontains → not_contains
    regex, starts-with → regex     is-json (optional schema) → json_schema
    llm-rubric → judge             cost / latency → covered by the gate's cost/latency axes
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JUDGE_MODEL = "sim-large"

# promptfoo type → (scorer name, scorer spec); value goes to expect[scorer name]
_SIMPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "equals": ("equals", {"type": "exact"}),
    "contains": ("contains", {"type": "contains", "case_sensitive": True}),
    "icontains": ("icontains", {"type": "contains"}),
    "contains-any": ("contains_any", {"type": "contains", "mode": "any", "case_sensitive": True}),
    "icontains-any": ("icontains_any", {"type": "contains", "mode": "any"}),
    "contains-all": ("contains_all", {"type": "contains", "case_sensitive": True}),
    "icontains-all": ("icontains_all", {"type": "contains"}),
    "not-contains": ("not_contains", {"type": "not_contains", "case_sensitive": True}),
    "not-icontains": ("not_icontains", {"type": "not_contains"}),
    "regex": ("regex", {"type": "regex"}),
}
_GATE_AXES = {"cost", "latency"}


@dataclass(slots=True)
class Conversion:
    suite: dict[str, Any]
    prompts: list[str] = field(default_factory=list)
    not_converted: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    scorers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    judge_for: dict[tuple[str, str], str] = field(default_factory=dict)
    schema_for: dict[str, str] = field(default_factory=dict)


def convert(config: Mapping[str, Any], source: str = "promptfooconfig.yaml") -> Conversion:
    state = _State()
    prompts = _prompts(config.get("prompts"), state)
    judge = _judge_model(config.get("providers"))
    default = config.get("defaultTest") or {}
    default_vars = default.get("vars") or {} if isinstance(default, Mapping) else {}
    default_asserts = default.get("assert") or [] if isinstance(default, Mapping) else []
    tests = config.get("tests") or []
    if isinstance(tests, str):
        state.notes.append(f"tests: {tests!r} (tests from files are not imported; inline them)")
        tests = []
    cases = []
    for index, test in enumerate(tests, start=1):
        if not isinstance(test, Mapping):
            state.notes.append(f"tests[{index}]: not a mapping")
            continue
        case = _case(index, test, default_vars, default_asserts, judge, state)
        if case is not None:
            cases.append(case)
    suite: dict[str, Any] = {
        "description": str(config.get("description") or f"Imported from {source}"),
        "cases": cases,
        "scorers": state.scorers,
    }
    if not state.scorers:
        state.notes.append("no assertion could be converted: add scorers before running")
    return Conversion(suite=suite, prompts=prompts, not_converted=state.notes)


def _prompts(raw: Any, state: _State) -> list[str]:
    items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    prompts = []
    for item in items:
        text = item.get("raw") if isinstance(item, Mapping) else item
        if isinstance(text, str) and not text.startswith("file://"):
            prompts.append(text)
        else:
            state.notes.append(f"prompts: {str(item)[:60]!r} (only inline prompt text is imported)")
    return prompts


def _judge_model(providers: Any) -> str:
    first = providers[0] if isinstance(providers, list) and providers else providers
    if isinstance(first, Mapping):
        first = first.get("id")
    if isinstance(first, str) and ":" in first:
        return first.split(":", 1)[1].split(":")[-1]
    return JUDGE_MODEL


def _case(
    index: int,
    test: Mapping[str, Any],
    default_vars: Mapping[str, Any],
    default_asserts: list[Any],
    judge: str,
    state: _State,
) -> dict[str, Any] | None:
    label = str(test.get("description") or f"tests[{index}]")
    variables = {**default_vars, **(test.get("vars") or {})}
    for name, value in list(variables.items()):
        if isinstance(value, str) and value.startswith("file://"):
            state.notes.append(f"{label}: var {name!r} loads a file ({value}); inline it")
            variables.pop(name)
        elif isinstance(value, list):
            state.notes.append(f"{label}: var {name!r} is a list (promptfoo expands it); split it")
            variables.pop(name)
    expect: dict[str, Any] = {}
    used: list[str] = []
    for assertion in [*default_asserts, *(test.get("assert") or [])]:
        name = _assertion(label, assertion, expect, judge, state)
        if name is not None and name not in used:
            used.append(name)
    if not used:
        state.notes.append(f"{label}: no convertible assertion; case skipped")
        return None
    if not variables:
        state.notes.append(f"{label}: no variables left to send; case skipped")
        return None
    case: dict[str, Any] = {"id": _slug(label, index), "vars": variables, "scorers": used}
    if expect:
        case["expect"] = expect
    return case


def _slug(label: str, index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60]
    return f"{index:03d}-{slug}" if slug else f"case-{index:03d}"


def _assertion(
    label: str, assertion: Any, expect: dict[str, Any], judge: str, state: _State
) -> str | None:
    if not isinstance(assertion, Mapping) or "type" not in assertion:
        state.notes.append(f"{label}: assertion without a type")
        return None
    kind, value = str(assertion["type"]), assertion.get("value")
    if kind in _GATE_AXES:
        state.notes.append(f"{label}: '{kind}' threshold (use the gate policy's {kind} rule)")
        return None
    if kind in _SIMPLE:
        return _simple(label, kind, value, expect, state)
    if kind == "starts-with" and isinstance(value, str):
        return _simple(label, "regex", "^" + re.escape(value), expect, state)
    if kind == "is-json":
        return _is_json(value, state)
    if kind == "llm-rubric" and isinstance(value, str):
        return _judge(value, judge, state)
    state.notes.append(f"{label}: assertion type '{kind}' has no rampway equivalent")
    return None


def _simple(label: str, kind: str, value: Any, expect: dict[str, Any], state: _State) -> str:
    name, spec = _SIMPLE[kind]
    state.scorers.setdefault(name, dict(spec))
    if name in expect and spec["type"] in ("contains", "not_contains"):
        merged = expect[name] if isinstance(expect[name], list) else [expect[name]]
        expect[name] = merged + (value if isinstance(value, list) else [value])
    elif name in expect:
        state.notes.append(f"{label}: second '{kind}' assertion dropped (one per case)")
    else:
        expect[name] = value
    return name


def _is_json(schema: Any, state: _State) -> str:
    key = repr(schema)
    name = state.schema_for.get(key)
    if name is None:
        name = "is_json" if not state.schema_for else f"is_json_{len(state.schema_for) + 1}"
        spec: dict[str, Any] = {"type": "json_schema"}
        if isinstance(schema, Mapping):
            spec["schema"] = dict(schema)
        state.scorers[name] = spec
        state.schema_for[key] = name
    return name


def _judge(rubric: str, model: str, state: _State) -> str:
    name = state.judge_for.get((rubric, model))
    if name is None:
        name = f"rubric_{len(state.judge_for) + 1}"
        state.scorers[name] = {"type": "judge", "rubric": rubric, "model": model}
        state.judge_for[(rubric, model)] = name
    return name
