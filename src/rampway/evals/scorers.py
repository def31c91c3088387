"""Scorers: each turns one model output into a score in [0, 1] and a pass/fail.

A scorer is declared in `suite.yaml` under a name; it reads its expectation from the case's
`expect` mapping (key = `expect:` or the scorer's name) unless it carries a literal `value`.
A scorer whose expectation a case does not provide does not apply to that case (score `None`),
so one suite can mix FAQ, intent and tool-call cases.

Example (suite.yaml):
    scorers:
      intent: {type: normalized}                 # case.expect.intent == output, normalized
      order_lookup: {type: tool_call}            # case.expect.order_lookup = {name, arguments}
      polite: {type: judge, model: sim-large, rubric: "Is the answer polite and on topic?"}
      close: {type: levenshtein, max_distance: 5}    # edit distance to case.expect.close
      embedded: {type: json_schema, anywhere: true}  # a JSON value somewhere in the answer
      cheap: {type: cost, max_usd: 0.002}            # per call (`latency: {max_ms: 1500}` too)

Everything here is pure except the judge, whose model call goes through an injected async
function so that tests and the runner decide how it is made.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rampway._textmatch import as_number, refusal_wording
from rampway._textmatch import loose_equal as loose_equal  # re-exported: the scorers' helpers
from rampway._textmatch import normalize_text as normalize_text
from rampway._textmatch import parse_json_output as parse_json_output
from rampway.providers.types import ToolCall

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Score:
    value: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Output:
    """What a scorer sees of a model answer (a plain view of a ChatResponse)."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    finish_reason: str = "stop"
    output_tokens: int = 0
    error: str | None = None
    cost_usd: float = 0.0  # what the call cost (the catalog's prices); 0 when unknown
    latency_s: float = 0.0  # the call's own latency, kept with a cached answer


@dataclass(frozen=True, slots=True)
class CaseView:
    """What a scorer sees of a case."""

    id: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    expect: Mapping[str, Any] = field(default_factory=dict)
    input: str | None = None


JudgeCall = Callable[[str, str | None, str], Awaitable[str]]
"""(provider, model, prompt) -> the judge model's text answer."""


# ---------------------------------------------------------------- helpers (pure)

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def json_path(document: Any, path: str) -> Any:
    """`a.b.0.c` lookup; returns _MISSING when any step is absent."""
    node = document
    for part in path.split(".") if path else []:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return float(found[-1].replace(",", "")) if found else None


def looks_like_refusal(output: Output) -> bool:
    if output.refusal or output.finish_reason == "content_filter":
        return True
    return refusal_wording(output.content)


def _bool_score(ok: bool, detail: str = "") -> Score:
    return Score(1.0 if ok else 0.0, ok, "" if ok else detail)


# ---------------------------------------------------------------- scorer specs


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    expect: str | None = Field(default=None, description="key in case.expect; default: name")
    description: str = ""

    def expected(self, name: str, case: CaseView, literal: Any = None) -> Any:
        """Literal value, else the case's expectation; _MISSING means 'does not apply'."""
        if literal is not None:
            return literal
        return case.expect.get(self.expect or name, _MISSING)


def _extract_pattern(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        if compiled.groups != 1:
            raise ValueError("extract needs exactly one capture group, e.g. 'intent: (\\w+)'")
    return pattern


class MatchScorer(_Spec):
    """Answer equality; `normalized` ignores case, whitespace, quotes, end punctuation.

    `extract: 'intent:\\s*(\\w+)'` compares only the captured group (no match = fail).
    """

    type: Literal["exact", "normalized"]
    value: str | None = None
    extract: str | None = None

    _check_extract = field_validator("extract")(classmethod(lambda cls, v: _extract_pattern(v)))

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = self.expected(name, case, self.value)
        if expected is _MISSING:
            return None
        got = output.content
        if self.extract is not None:
            found = re.search(self.extract, got, re.IGNORECASE)
            if found is None:
                return Score(0.0, False, f"no match for {self.extract!r} in {got[:60]!r}")
            got = found.group(1)
        want = str(expected)
        if self.type == "normalized":
            want, got = normalize_text(want), normalize_text(got)
        else:
            got = got.strip()
        return _bool_score(want == got, f"expected {want!r}, got {got[:80]!r}")


class ContainsScorer(_Spec):
    """Substring checks; score = share of needles found (or avoided, for not_contains)."""

    type: Literal["contains", "not_contains"]
    value: str | list[str] | None = None
    mode: Literal["all", "any"] = "all"
    case_sensitive: bool = False

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = self.expected(name, case, self.value)
        if expected is _MISSING:
            return None
        needles = [str(n) for n in (expected if isinstance(expected, list) else [expected])]
        hay = output.content if self.case_sensitive else output.content.casefold()
        found = [(n if self.case_sensitive else n.casefold()) in hay for n in needles]
        if self.type == "not_contains":
            found = [not f for f in found]
        hits = sum(found)
        passed = hits == len(found) if self.mode == "all" else hits > 0
        share = hits / len(found) if found else 1.0
        missed = [n for n, ok in zip(needles, found, strict=True) if not ok]
        return Score(share if self.mode == "all" else float(passed), passed, _missed(missed))


def _missed(needles: list[str]) -> str:
    return f"missing/unwanted: {', '.join(repr(n) for n in needles[:5])}" if needles else ""


class RegexScorer(_Spec):
    type: Literal["regex"]
    pattern: str | None = None
    ignore_case: bool = False
    negate: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        pattern = self.expected(name, case, self.pattern)
        if pattern is _MISSING:
            return None
        flags = re.IGNORECASE if self.ignore_case else 0
        try:
            matched = re.search(str(pattern), output.content, flags) is not None
        except re.error as exc:
            return Score(0.0, False, f"invalid pattern in case: {exc}")
        verb = "found" if self.negate else "not found"
        return _bool_score(matched != self.negate, f"pattern {pattern!r} {verb}")


class JsonSchemaScorer(_Spec):
    """The answer parses as JSON and (if a schema is given) validates against it.

    `anywhere: true` accepts prose around the JSON: any JSON object or array embedded in the
    answer that validates passes (promptfoo's `contains-json`).
    """

    type: Literal["json_schema"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    anywhere: bool = False

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            import jsonschema

            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"invalid JSON schema: {exc.message}") from exc
        return schema

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        if self.anywhere:
            return self._embedded(output.content)
        try:
            document = parse_json_output(output.content)
        except ValueError as exc:
            return Score(0.0, False, f"not JSON: {exc}")
        return self._validate(document)

    def _validate(self, document: Any) -> Score:
        if self.json_schema is None:
            return Score(1.0, True)
        import jsonschema

        validator = jsonschema.validators.validator_for(self.json_schema)(self.json_schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        return _bool_score(error is None, f"schema: {error.message if error else ''}")

    def _embedded(self, content: str) -> Score:
        documents = embedded_json(content)
        if not documents:
            return Score(0.0, False, "no JSON object or array in the answer")
        scores = [self._validate(d) for d in documents]
        return next((s for s in scores if s.passed), scores[0])


def embedded_json(text: str) -> list[Any]:
    """Every JSON object or array embedded in `text`, outermost first, left to right."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    start = 0
    while True:
        positions = [p for p in (text.find("{", start), text.find("[", start)) if p >= 0]
        if not positions:
            return found
        at = min(positions)
        try:
            document, end = decoder.raw_decode(text, at)
        except ValueError:
            start = at + 1
            continue
        found.append(document)
        start = end


class JsonFieldsScorer(_Spec):
    """Field-by-field equality against `expect`; score = share of fields that match."""

    type: Literal["json_fields"]
    value: dict[str, Any] | None = None
    fields: list[str] | None = None
    tolerance: float = Field(default=0.0, ge=0)

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = self.expected(name, case, self.value)
        if expected is _MISSING:
            return None
        if not isinstance(expected, Mapping):
            return Score(0.0, False, "expectation is not a mapping")
        try:
            document = parse_json_output(output.content)
        except ValueError as exc:
            return Score(0.0, False, f"not JSON: {exc}")
        paths = self.fields or list(expected)
        wrong = [
            p
            for p in paths
            if not loose_equal(json_path(expected, p), json_path(document, p), self.tolerance)
        ]
        share = 1.0 - len(wrong) / len(paths) if paths else 1.0
        return Score(share, not wrong, f"fields differ: {', '.join(wrong[:6])}" if wrong else "")


class NumericScorer(_Spec):
    """The answer's number (a JSON field, or the last number in the text) within tolerance."""

    type: Literal["numeric"]
    value: float | None = None
    field_path: str | None = Field(default=None, alias="field")
    abs_tol: float = Field(default=1e-6, ge=0)
    rel_tol: float = Field(default=0.0, ge=0)

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = as_number(self.expected(name, case, self.value))
        if expected is None:
            return None
        got = self._answer(output.content)
        if got is None:
            return Score(0.0, False, "no number in answer")
        ok = math.isclose(got, expected, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        return _bool_score(ok, f"expected {expected:g}, got {got:g}")

    def _answer(self, content: str) -> float | None:
        if self.field_path is None:
            return last_number(content)
        try:
            return as_number(json_path(parse_json_output(content), self.field_path))
        except ValueError:
            return None


class ToolCallScorer(_Spec):
    """Expected {name, arguments}: name right = 0.5, plus 0.5 × share of arguments right.

    An expectation of `null` means "no tool call should be made".
    """

    type: Literal["tool_call"]
    value: dict[str, Any] | None = None
    arguments: Literal["subset", "exact"] = "subset"

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = self.expected(name, case, self.value)
        if expected is _MISSING:
            return None
        if expected is None or expected is False:
            return _bool_score(not output.tool_calls, "unexpected tool call")
        if not isinstance(expected, Mapping) or "name" not in expected:
            return Score(0.0, False, "expectation needs a 'name'")
        calls = [c for c in output.tool_calls if c.name == expected["name"]]
        if not calls:
            got = ", ".join(c.name for c in output.tool_calls) or "none"
            return Score(0.0, False, f"expected call {expected['name']}, got {got}")
        return max((self._args_score(expected, c) for c in calls), key=lambda s: s.value)

    def _args_score(self, expected: Mapping[str, Any], call: ToolCall) -> Score:
        want = expected.get("arguments") or {}
        try:
            got = json.loads(call.arguments or "{}")
        except ValueError:
            return Score(0.5, False, "arguments are not JSON")
        if not isinstance(got, dict):
            return Score(0.5, False, "arguments are not an object")
        wrong = [k for k in want if not loose_equal(want[k], got.get(k, _MISSING))]
        extra = sorted(set(got) - set(want)) if self.arguments == "exact" else []
        total = len(want) + len(extra)
        share = 1.0 - (len(wrong) + len(extra)) / total if total else 1.0
        ok = not wrong and not extra
        return Score(0.5 + 0.5 * share, ok, "" if ok else f"arguments differ: {wrong + extra}")


class RefusalScorer(_Spec):
    """Did the model refuse? Expectation `true` = it should (unsafe ask); default `false`."""

    type: Literal["refusal"]
    value: bool | None = None

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = self.expected(name, case, self.value)
        should = False if expected is _MISSING else bool(expected)
        refused = looks_like_refusal(output)
        return _bool_score(refused == should, "refused" if refused else "did not refuse")


class LengthScorer(_Spec):
    """Verbosity bounds. Out of bounds scores bound/actual, so 'a bit long' is not 0."""

    type: Literal["length"]
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=1)
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some_bound(self) -> LengthScorer:
        bounds = (self.min_chars, self.max_chars, self.min_words, self.max_words, self.max_tokens)
        if all(b is None for b in bounds):
            raise ValueError("length scorer needs at least one bound")
        return self

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        chars, words = len(output.content), len(output.content.split())
        ratios = [
            _ratio(chars, self.min_chars, self.max_chars),
            _ratio(words, self.min_words, self.max_words),
            _ratio(output.output_tokens, None, self.max_tokens),
        ]
        worst = min(ratios)
        return Score(worst, worst >= 1.0, "" if worst >= 1.0 else f"{chars} chars, {words} words")


def _ratio(actual: int, low: int | None, high: int | None) -> float:
    if high is not None and actual > high:
        return high / actual
    if low is not None and actual < low:
        return actual / low if low else 1.0
    return 1.0


class LevenshteinScorer(_Spec):
    """Edit distance to the expected text at most `max_distance` (promptfoo's `levenshtein`).

    Score = 1 - distance / length of the longer text, so a near miss is not 0.
    """

    type: Literal["levenshtein"]
    value: str | None = None
    max_distance: int = Field(default=5, ge=0)

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        expected = self.expected(name, case, self.value)
        if expected is _MISSING:
            return None
        want, got = str(expected), output.content
        distance = levenshtein(want, got)
        longest = max(len(want), len(got))
        value = 1.0 - distance / longest if longest else 1.0
        ok = distance <= self.max_distance
        return Score(value, ok, "" if ok else f"edit distance {distance} > {self.max_distance}")


def levenshtein(a: str, b: str) -> int:
    """Insertions, deletions and substitutions turning `a` into `b` (two-row dynamic program)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


class CostScorer(_Spec):
    """The call cost at most `max_usd` (catalog prices; a cached answer keeps its cost)."""

    type: Literal["cost"]
    max_usd: float = Field(gt=0)

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        return _budget(output.cost_usd, self.max_usd, f"${output.cost_usd:.6f} > ${self.max_usd:g}")


class LatencyScorer(_Spec):
    """The call took at most `max_ms` (a cached answer keeps the latency it was served with)."""

    type: Literal["latency"]
    max_ms: float = Field(gt=0)

    def score(self, name: str, output: Output, case: CaseView) -> Score | None:
        took = output.latency_s * 1000.0
        return _budget(took, self.max_ms, f"{took:.0f} ms > {self.max_ms:g} ms")


def _budget(actual: float, limit: float, detail: str) -> Score:
    """Within budget = 1; over it scores limit/actual, so 'a bit over' is not 0."""
    if actual <= limit:
        return Score(1.0, True)
    return Score(limit / actual, False, detail)


JUDGE_PROMPT = """You are grading an AI assistant's answer.
Rubric: {rubric}
{reference}Question: {question}
Answer: {answer}

Give an integer grade from 1 (fails the rubric) to {scale} (fully meets it).
Reply with exactly one line of the form SCORE: <n>"""

_JUDGE_SCORE = re.compile(r"SCORE\s*[:=]\s*(\d+)", re.IGNORECASE)


class JudgeScorer(_Spec):
    """LLM-as-judge: a rubric, a grade 1..scale parsed from `SCORE: n`, rescaled to [0, 1].

    The judge runs at temperature 0 with a fixed seed, and its answers are cached, so a grade
    is reproducible. An answer without a parseable grade scores 0 and says so.
    """

    type: Literal["judge"]
    rubric: str = Field(min_length=1)
    provider: str | None = None
    model: str = Field(min_length=1)
    scale: int = Field(default=5, ge=2, le=10)
    threshold: float = Field(default=0.75, ge=0, le=1)

    def prompt(self, name: str, output: Output, case: CaseView) -> str:
        reference = self.expected(name, case)
        ref = "" if reference is _MISSING else f"Reference answer: {reference}\n"
        question = case.input or json.dumps(dict(case.vars), sort_keys=True, default=str)
        return JUDGE_PROMPT.format(
            rubric=self.rubric,
            reference=ref,
            question=question,
            answer=output.content or _describe_tools(output.tool_calls),
            scale=self.scale,
        )

    def parse(self, text: str) -> Score:
        found = _JUDGE_SCORE.search(text)
        if not found or not 1 <= int(found.group(1)) <= self.scale:
            return Score(0.0, False, f"judge gave no grade: {text[:80]!r}")
        value = (int(found.group(1)) - 1) / (self.scale - 1)
        return Score(value, value >= self.threshold, f"judge grade {found.group(1)}/{self.scale}")

    async def ascore(self, name: str, output: Output, case: CaseView, call: JudgeCall) -> Score:
        text = await call(self.provider or "", self.model, self.prompt(name, output, case))
        return self.parse(text)


def _describe_tools(calls: Sequence[ToolCall]) -> str:
    return "; ".join(f"calls {c.name}({c.arguments})" for c in calls) or "(empty)"


class PythonScorer(_Spec):
    """A user function `module:function` (or `file.py:function` relative to the suite).

    It is called as fn(output: Output, case: CaseView, **params) and returns a float in [0, 1],
    a bool, a (float, bool) pair or a Score.
    """

    type: Literal["python"]
    function: str = Field(pattern=r"^[\w./-]+(\.py)?:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)


ScorerSpec = Annotated[
    MatchScorer
    | ContainsScorer
    | RegexScorer
    | JsonSchemaScorer
    | JsonFieldsScorer
    | NumericScorer
    | ToolCallScorer
    | RefusalScorer
    | LengthScorer
    | LevenshteinScorer
    | CostScorer
    | LatencyScorer
    | JudgeScorer
    | PythonScorer,
    Field(discriminator="type"),
]

SCORER_TYPES = (
    "exact",
    "normalized",
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "json_fields",
    "numeric",
    "tool_call",
    "refusal",
    "length",
    "levenshtein",
    "cost",
    "latency",
    "judge",
    "python",
)

UserFunction = Callable[..., Any]


def coerce_user_score(result: Any, function: str) -> Score:
    """Accept the shapes a user function may return; anything else is an error score."""
    if isinstance(result, Score):
        value, passed, detail = result.value, result.passed, result.detail
    elif isinstance(result, bool):
        value, passed, detail = float(result), result, ""
    elif isinstance(result, int | float):
        value, passed, detail = float(result), float(result) >= 0.5, ""
    elif isinstance(result, tuple) and len(result) == 2:
        value, passed, detail = float(result[0]), bool(result[1]), ""
    else:
        return Score(0.0, False, f"{function} returned {type(result).__name__}")
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        return Score(0.0, False, f"{function} returned {value}, outside [0, 1]")
    return Score(value, passed, detail)
