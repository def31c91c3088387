"""Convert a promptfoo config (prompts, vars, tests, assertions) into a rampway suite.

Pure: `convert(config, source, judge)` returns the suite document, the prompts found and a
list of what could not be converted (each naming the test and the assertion), so nothing is
dropped silently. File references are read beforehand (`rampway.evals._promptfoo_files`).
Each promptfoo assertion becomes a named scorer; a case lists the scorers its assertions map
to (`scorers:`) and carries their expected values under `expect`.

    equals → exact                 contains / icontains (-any / -all) → contains
    not-contains / not-icontains → not_contains                regex, starts-with → regex
    is-json → json_schema          contains-json → json_schema {anywhere: true}
    levenshtein → levenshtein      cost → cost {max_usd}       latency → latency {max_ms}
    is-refusal → refusal           llm-rubric → judge (the grader mapped to a catalog model)
    similar → refused: it needs an embedding model, and rampway scores none

`weight` becomes the scorer's weight in the `quality` metric (weight 0, informational in
promptfoo, is not imported); `metric:` names become suite metrics; `transform` (JavaScript
run on the output before the assertion) cannot run here, so its assertion — or, at test
level, its case — is named as not converted. `$ref: "#/assertionTemplates/…"` is resolved
within the config; a `$ref` that does not resolve is named as such. `{{var}}` in assertion
values and rubrics is filled from the case's vars, as promptfoo renders them.

Vars follow promptfoo's test expansion: a var holding a list of strings gives one case per
item, several such vars one case per combination (`{lang: [fr, de], q: [a, b]}` → 4 cases,
ids `…-1` to `…-4`, the first var outermost), unless `options.disableVarExpansion` is set.
`file://` vars arrive already read (`_promptfoo_files`; a glob is a list, so one case per file).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rampway.errors import ConfigError

if TYPE_CHECKING:
    from rampway.providers.catalog import Catalog

# promptfoo's default grader (DefaultGradingProvider: OpenAI gpt-4.1), as a catalog model
DEFAULT_JUDGE = "openai:gpt-4.1"

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
    "not-regex": ("not_regex", {"type": "regex", "negate": True}),
    "levenshtein": ("levenshtein", {"type": "levenshtein"}),
}
_TEMPLATE = re.compile(r"{{\s*([A-Za-z_]\w*)\s*}}")


@dataclass(frozen=True, slots=True)
class Judge:
    """The catalog model that grades `llm-rubric`s: a provider name and a model."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def choose_judge(
    config: Mapping[str, Any], requested: str | None, catalog: Catalog
) -> tuple[Judge, str]:
    """The judge for `llm-rubric`s and why: `--judge-model`, else promptfoo's configured grader
    (`defaultTest.options.provider`) when the catalog has it, else promptfoo's default grader.

    A requested model the catalog does not know is a ConfigError; a configured grader it does
    not know falls back to the default, and the reason says so.
    """
    if requested:
        judge = catalog_model(requested, catalog)
        if judge is None:
            raise ConfigError(f"--judge-model {requested!r} is not in the model catalog "
                              "(give provider:model, e.g. sim:sim-large or openai:gpt-4.1)")
        return judge, "--judge-model"
    default = catalog_model(DEFAULT_JUDGE, catalog)
    if default is None:  # the bundled catalog always has it; a project may not
        raise ConfigError(f"the default judge {DEFAULT_JUDGE} is not in the model catalog: "
                          "pass --judge-model")
    grader = _grader(config)
    if grader is None:
        return default, "promptfoo's default grader"
    judge = catalog_model(grader, catalog)
    if judge is None:
        return default, (f"the config's grader {grader!r} is not in the model catalog; "
                         "promptfoo's default grader instead (--judge-model to choose)")
    return judge, "the config's grader (defaultTest.options.provider)"


def _grader(config: Mapping[str, Any]) -> str | None:
    default = config.get("defaultTest")
    options = default.get("options") if isinstance(default, Mapping) else None
    provider = options.get("provider") if isinstance(options, Mapping) else None
    if isinstance(provider, Mapping):  # {id: …} or {text: {id: …}, embedding: …}
        provider = provider.get("id") or (provider.get("text") or {}).get("id")
    return provider if isinstance(provider, str) else None


_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def catalog_model(ref: str, catalog: Catalog) -> Judge | None:
    """`openai:gpt-4.1`, `openai:chat:gpt-4.1-2025-04-14`, `anthropic:messages:…` or a bare
    model name unique in the catalog → the catalog entry's (provider, model)."""
    parts = ref.split(":")
    provider, model = (parts[0], parts[-1]) if len(parts) > 1 else (None, parts[0])
    for name in dict.fromkeys((model, _DATED.sub("", model))):
        found = [m for m in catalog if m.model == name and provider in (None, m.provider)]
        if len(found) == 1:
            return Judge(found[0].provider, found[0].model)
    return None


@dataclass(slots=True)
class Conversion:
    suite: dict[str, Any]
    prompts: list[Any] = field(default_factory=list)  # template text, or chat message lists
    not_converted: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    config: Mapping[str, Any]
    judge: Judge
    scorers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    keyed: dict[str, str] = field(default_factory=dict)  # repr of a scorer spec → its name
    weights: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def convert(
    config: Mapping[str, Any], source: str = "promptfooconfig.yaml",
    judge: Judge | None = None,
) -> Conversion:
    state = _State(config, judge or Judge(*DEFAULT_JUDGE.split(":", 1)))
    prompts = _prompts(config.get("prompts"), state)
    default = config.get("defaultTest") or {}
    default = default if isinstance(default, Mapping) else {}
    tests = config.get("tests") or []
    if not isinstance(tests, list):
        state.notes.append(f"tests: {str(tests)[:60]!r} (not a list of tests)")
        tests = []
    cases = []
    for index, test in enumerate(tests, start=1):
        if not isinstance(test, Mapping):
            state.notes.append(f"tests[{index}]: not a mapping")
            continue
        cases.extend(_cases(index, test, default, state))
    suite: dict[str, Any] = {
        "description": str(config.get("description") or f"Imported from {source}"),
        "cases": cases,
        "scorers": state.scorers,
    }
    metrics = _metrics(state)
    if metrics:
        suite["metrics"] = metrics
    if not state.scorers:
        state.notes.append("no assertion could be converted: add scorers before running")
    return Conversion(suite=suite, prompts=prompts, not_converted=state.notes)


def _metrics(state: _State) -> dict[str, dict[str, float]]:
    """Only when weights or named metrics say more than the default equal-weight `quality`."""
    weighted = any(w != 1.0 for w in state.weights.values())
    if not weighted and not state.metrics:
        return {}
    quality = {name: state.weights.get(name, 1.0) for name in state.scorers}
    return {"quality": quality, **{m: s for m, s in state.metrics.items() if m != "quality"}}


def _prompts(raw: Any, state: _State) -> list[Any]:
    items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    prompts: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("chat"), list):
            prompts.append(item["chat"])
            continue
        text = item.get("raw") if isinstance(item, Mapping) else item
        if isinstance(text, str) and not text.startswith("file://"):
            prompts.append(text)
        else:
            state.notes.append(f"prompts: {str(item)[:60]!r} (neither prompt text nor a file)")
    return prompts


def _cases(
    index: int, test: Mapping[str, Any], default: Mapping[str, Any], state: _State
) -> list[dict[str, Any]]:
    """One case per combination of the test's list vars (promptfoo's `generateVarCombinations`);
    a test without list vars is one case."""
    label = str(test.get("description") or f"tests[{index}]")
    if not _well_shaped(label, test, default, state) or _transformed(label, test, default, state):
        return []
    merged = {**(default.get("vars") or {}), **(test.get("vars") or {})}
    combinations = _combinations(label, _variables(label, merged, state),
                                 _expansion_disabled(test, default), state)
    if test.get("threshold") is not None:
        state.notes.append(f"{label}: threshold {test['threshold']} (pass on the weighted score) "
                           "not imported: a case passes when every scorer passes; the weighted "
                           "score is the quality metric")
    first_note = len(state.notes)
    cases = []
    for n, variables in enumerate(combinations, start=1):
        case_id = _slug(label, index) + (f"-{n}" if len(combinations) > 1 else "")
        case = _case(label, case_id, variables, test, default, state)
        if case is not None:
            cases.append(case)
    # every combination meets the same assertions: say what was not converted once
    state.notes[first_note:] = list(dict.fromkeys(state.notes[first_note:]))
    return cases


def _case(
    label: str, case_id: str, variables: dict[str, Any], test: Mapping[str, Any],
    default: Mapping[str, Any], state: _State,
) -> dict[str, Any] | None:
    expect: dict[str, Any] = {}
    used: list[str] = []
    for assertion in [*(default.get("assert") or []), *(test.get("assert") or [])]:
        for name in _assertion(label, assertion, variables, expect, state):
            if name not in used:
                used.append(name)
    if not used:
        state.notes.append(f"{label}: no convertible assertion; case skipped")
        return None
    if not variables:
        state.notes.append(f"{label}: no variables left to send; case skipped")
        return None
    case: dict[str, Any] = {"id": case_id, "vars": variables, "scorers": used}
    if expect:
        case["expect"] = expect
    return case


def _well_shaped(
    label: str, test: Mapping[str, Any], default: Mapping[str, Any], state: _State
) -> bool:
    for part, where in ((default, "defaultTest"), (test, label)):
        for key, kind in (("vars", Mapping), ("assert", list)):
            if part.get(key) is not None and not isinstance(part[key], kind):
                state.notes.append(f"{where}: {key} {_short(part[key])} is not a "
                                   f"{'mapping' if kind is Mapping else 'list'}; case skipped")
                return False
    return True


def _variables(label: str, variables: dict[str, Any], state: _State) -> dict[str, Any]:
    """The vars a case can send. `file://` vars arrive read (`_promptfoo_files`); what is left
    is a script or a PDF, which promptfoo runs or extracts and rampway does not: named."""
    for name, value in list(variables.items()):
        items = value if isinstance(value, list) else [value]
        refs = [v for v in items if isinstance(v, str) and v.startswith("file://")]
        if refs:
            state.notes.append(f"{label}: var {name!r} is computed from {refs[0]} (promptfoo "
                               "runs scripts and extracts PDFs; rampway does not): inline it")
            variables.pop(name)
    return variables


MAX_COMBINATIONS = 1000


def _combinations(
    label: str, variables: dict[str, Any], disabled: bool, state: _State
) -> list[dict[str, Any]]:
    """promptfoo's expansion: a list whose first item is a string gives one case per item, the
    first var outermost; any other list is one value, which rampway's templates cannot render
    as nunjucks does (and `disableVarExpansion` keeps every list whole): named, var dropped."""
    axes: list[tuple[str, list[Any]]] = []
    for name, value in variables.items():
        if not isinstance(value, list):
            axes.append((name, [value]))
        elif value and isinstance(value[0], str) and not disabled:
            axes.append((name, value))
        else:
            why = "disableVarExpansion keeps it whole" if disabled else "not a list of strings"
            state.notes.append(f"{label}: var {name!r} is a list promptfoo sends whole ({why}); "
                               "rampway templates render lists differently: var dropped")
    count = 1
    for _, values in axes:
        count *= len(values)
    if count > MAX_COMBINATIONS:
        state.notes.append(f"{label}: list vars expand to {count} cases (more than "
                           f"{MAX_COMBINATIONS}): case skipped")
        return []
    return [dict(zip([name for name, _ in axes], combo, strict=True))
            for combo in itertools.product(*(values for _, values in axes))]


def _expansion_disabled(test: Mapping[str, Any], default: Mapping[str, Any]) -> bool:
    options = {**_mapping(default.get("options")), **_mapping(test.get("options"))}
    return bool(options.get("disableVarExpansion"))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _transformed(
    label: str, test: Mapping[str, Any], default: Mapping[str, Any], state: _State
) -> bool:
    """A test-level transform changes what every assertion sees: the case cannot be imported."""
    for where, options in (("", test.get("options")), ("defaultTest ", default.get("options"))):
        if not isinstance(options, Mapping):
            continue
        for key in ("transform", "postprocess"):
            if options.get(key):
                state.notes.append(f"{label}: {where}options.{key} {_short(options[key])} is "
                                   "JavaScript run on the output before every assertion; rampway "
                                   "does not run it: case skipped")
                return True
    return False


def _slug(label: str, index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60]
    return f"{index:03d}-{slug}" if slug else f"case-{index:03d}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 60 else text[:57] + "...")


# ---------------------------------------------------------------- assertions


def _assertion(
    label: str, assertion: Any, variables: Mapping[str, Any], expect: dict[str, Any],
    state: _State,
) -> list[str]:
    """The scorer names this assertion maps to ([] when it is not converted, with a note)."""
    if isinstance(assertion, Mapping) and "$ref" in assertion:
        resolved = _resolve_ref(state.config, assertion["$ref"])
        if resolved is None:
            state.notes.append(f"{label}: assertion $ref {assertion['$ref']!r} does not resolve "
                               "within the config (only local '#/…' references are read)")
            return []
        assertion = resolved
    if not isinstance(assertion, Mapping) or "type" not in assertion:
        state.notes.append(f"{label}: assertion without a type: {_short(assertion)}")
        return []
    kind = str(assertion["type"])
    if kind == "assert-set":
        return [n for a in assertion.get("assert") or []
                for n in _assertion(label, a, variables, expect, state)]
    if assertion.get("transform"):
        state.notes.append(f"{label}: '{kind}' has transform {_short(assertion['transform'])} "
                           "(JavaScript run on the output first); rampway does not run it: "
                           "assertion not converted")
        return []
    weight = assertion.get("weight", 1)
    if not isinstance(weight, int | float) or weight < 0:
        state.notes.append(f"{label}: '{kind}' has weight {weight!r}, not a number ≥ 0: skipped")
        return []
    if weight == 0:
        state.notes.append(f"{label}: '{kind}' has weight 0 (informational in promptfoo): "
                           "not imported")
        return []
    value = _render(assertion.get("value"), variables)
    name = _convert(label, kind, value, assertion, expect, state)
    if name is not None:
        _weigh(label, kind, name, float(weight), assertion.get("metric"), state)
    return [] if name is None else [name]


def _convert(
    label: str, kind: str, value: Any, assertion: Mapping[str, Any], expect: dict[str, Any],
    state: _State,
) -> str | None:
    threshold = assertion.get("threshold")
    if kind in _SIMPLE:
        spec = dict(_SIMPLE[kind][1])
        if kind == "levenshtein":
            if threshold is not None and not isinstance(threshold, int | float):
                state.notes.append(f"{label}: 'levenshtein' threshold {threshold!r} is not a "
                                   "number: not converted")
                return None
            spec["max_distance"] = int(threshold if threshold is not None else 5)
        return _expecting(label, kind, value, spec, expect, state)
    if kind == "starts-with" and isinstance(value, str):
        return _expecting(label, "regex", "^" + re.escape(value), dict(_SIMPLE["regex"][1]),
                          expect, state)
    if kind in ("is-json", "contains-json"):
        spec = {"type": "json_schema", **({"anywhere": True} if kind == "contains-json" else {})}
        schema = _schema(value)
        if schema is not None:
            spec["schema"] = schema
        return _named(kind.replace("-", "_"), spec, state)
    if kind in ("is-refusal", "not-is-refusal"):
        name = _named("refusal", {"type": "refusal"}, state)
        expect[name] = kind == "is-refusal"
        return name
    if kind in ("cost", "latency"):
        return _budget(label, kind, threshold, state)
    if kind == "llm-rubric":
        if isinstance(value, str) and value.strip():
            return _judge(label, value, assertion, state)
        state.notes.append(f"{label}: 'llm-rubric' without rubric text ({_short(value)}): "
                           "not converted")
        return None
    if kind == "similar":
        state.notes.append(f"{label}: 'similar' (embedding cosine similarity ≥ "
                           f"{threshold if threshold is not None else 0.75} to {_short(value)}) "
                           "needs an embedding model and rampway scores none: use a judge "
                           "rubric, levenshtein or contains instead")
        return None
    state.notes.append(f"{label}: assertion type '{kind}' has no rampway equivalent")
    return None


def _expecting(
    label: str, kind: str, value: Any, spec: dict[str, Any], expect: dict[str, Any],
    state: _State,
) -> str:
    """A scorer reading case.expect[name]; a second one of a kind merges or is named."""
    name = _named(_SIMPLE.get(kind, (kind.replace("-", "_"), {}))[0], spec, state)
    if name in expect and spec["type"] in ("contains", "not_contains"):
        merged = expect[name] if isinstance(expect[name], list) else [expect[name]]
        expect[name] = merged + (value if isinstance(value, list) else [value])
    elif name in expect:
        state.notes.append(f"{label}: second '{kind}' assertion dropped (one per case)")
    else:
        expect[name] = value
    return name


def _named(base: str, spec: dict[str, Any], state: _State) -> str:
    """One scorer per distinct spec: `levenshtein`, then `levenshtein_2` for another threshold."""
    key = json.dumps(spec, sort_keys=True, default=str)
    name = state.keyed.get(key)
    if name is None:
        name, n = base, 1
        while name in state.scorers:
            n += 1
            name = f"{base}_{n}"
        state.scorers[name] = spec
        state.keyed[key] = name
    return name


def _schema(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return dict(value) if isinstance(value, Mapping) else None


def _budget(label: str, kind: str, threshold: Any, state: _State) -> str | None:
    if not isinstance(threshold, int | float) or threshold <= 0:
        state.notes.append(f"{label}: '{kind}' without a positive threshold: not converted")
        return None
    spec = {"type": kind, ("max_usd" if kind == "cost" else "max_ms"): threshold}
    return _named(kind, spec, state)


def _judge(label: str, rubric: str, assertion: Mapping[str, Any], state: _State) -> str:
    spec: dict[str, Any] = {"type": "judge", "rubric": rubric,
                            "provider": state.judge.provider, "model": state.judge.model}
    threshold = assertion.get("threshold")
    if isinstance(threshold, int | float) and 0 <= threshold <= 1:
        spec["threshold"] = threshold
    if assertion.get("provider"):
        state.notes.append(f"{label}: llm-rubric grader {_short(assertion['provider'])} replaced "
                           f"by {state.judge} (--judge-model)")
    return _named("rubric", spec, state)


def _weigh(
    label: str, kind: str, name: str, weight: float, metric: Any, state: _State
) -> None:
    known = state.weights.setdefault(name, weight)
    if known != weight:
        state.notes.append(f"{label}: weight {weight:g} of '{kind}' dropped: the suite weighs "
                           f"scorer {name!r} {known:g} (rampway weighs per scorer, not per case)")
    if isinstance(metric, str) and metric:
        state.metrics.setdefault(re.sub(r"\W+", "_", metric).strip("_") or "metric", {})[
            name] = known


def _render(value: Any, variables: Mapping[str, Any]) -> Any:
    """`{{var}}` filled from the case's vars, as promptfoo renders assertion values."""
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    return _TEMPLATE.sub(
        lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0), value
    )


def _resolve_ref(config: Mapping[str, Any], ref: Any) -> Any:
    """A local JSON pointer (`#/assertionTemplates/name`) into the config, else None."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    node: Any = config
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node
