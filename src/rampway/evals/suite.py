"""Eval suites: `evals/<feature>/suite.yaml` plus the case files it includes.

    feature: support-bot
    cases:
      - id: refund-window
        vars: {question: "How long do I have to return an item?"}
        expect: {faq: ["30 days"]}
        tags: [critical, faq]
      - file: cases/intents.jsonl         # JSONL, CSV or YAML; `tags:` here apply to each case
        tags: [intent]
    scorers:
      faq: {type: contains}
      intent: {type: normalized}
    metrics:
      quality: {faq: 2, intent: 1}        # weighted mean of the scorers that apply to a case

Every problem is reported once, as `file:line: what is wrong`. A suite without `metrics`
gets `quality` = the equal-weight mean of all its scorers; `pass_rate` (all applicable
scorers pass) always exists.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import importlib.util
import io
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rampway.errors import ConfigError
from rampway.evals._located import (
    Located,
    config_error,
    describe_error,
    load_located,
    located_validation_error,
    parse_located,
    validate_located,
)
from rampway.evals.scorers import (
    CaseView,
    ContainsScorer,
    JsonFieldsScorer,
    JudgeScorer,
    LevenshteinScorer,
    MatchScorer,
    NumericScorer,
    Output,
    PythonScorer,
    RegexScorer,
    Score,
    ScorerSpec,
    ToolCallScorer,
    UserFunction,
    coerce_user_score,
)
from rampway.providers.types import Message

PASS_RATE = "pass_rate"  # noqa: S105 - a metric name
CRITICAL = "critical"


class MessageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern="^(system|user|assistant|tool)$")
    content: str


class CaseSpec(BaseModel):
    """One case as written. At least one of vars / input / messages."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=200)
    vars: dict[str, Any] = Field(default_factory=dict)
    input: str | None = None
    messages: list[MessageSpec] | None = None
    expect: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0)
    scorers: list[str] | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [t.strip() for t in value.replace(";", ",").split(",") if t.strip()]
        return value


class IncludeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str | None = None
    description: str = ""
    repeats: int | None = Field(default=None, ge=1, le=100)
    cases: list[dict[str, Any]] = Field(min_length=1)
    scorers: dict[str, ScorerSpec] = Field(min_length=1)
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    where: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    input: str | None = None
    messages: tuple[Message, ...] | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    weight: float = 1.0
    scorers: tuple[str, ...] | None = None
    input_hash: str = ""

    @property
    def critical(self) -> bool:
        return CRITICAL in self.tags

    def view(self) -> CaseView:
        return CaseView(id=self.id, vars=self.vars, expect=self.expect, input=self.input)


@dataclass(frozen=True, slots=True)
class CompiledScorer:
    name: str
    spec: Any  # one of the ScorerSpec classes
    function: UserFunction | None = None

    @property
    def is_judge(self) -> bool:
        return isinstance(self.spec, JudgeScorer)

    def score(self, output: Output, case: CaseView) -> Score | None:
        """Sync scorers only; the judge goes through JudgeScorer.ascore."""
        if self.function is not None:
            params = self.spec.params
            try:
                result = self.function(output, case, **params)
            except Exception as exc:  # noqa: BLE001 - user code: record, never crash the run
                return Score(0.0, False, f"{self.spec.function} raised {type(exc).__name__}: {exc}")
            return None if result is None else coerce_user_score(result, self.spec.function)
        score: Score | None = self.spec.score(self.name, output, case)
        return score

    def reads(self) -> str | None:
        """The case.expect key this scorer needs to apply, or None if it always applies."""
        needs_key = (
            MatchScorer,
            ContainsScorer,
            RegexScorer,
            JsonFieldsScorer,
            NumericScorer,
            ToolCallScorer,
            LevenshteinScorer,
        )
        literal = getattr(self.spec, "value", None) or getattr(self.spec, "pattern", None)
        if isinstance(self.spec, needs_key) and literal is None:
            return str(self.spec.expect or self.name)
        return None

    def applies(self, case: Case) -> bool:
        if case.scorers is not None and self.name not in case.scorers:
            return False
        key = self.reads()
        return key is None or key in case.expect


@dataclass(frozen=True, slots=True)
class Suite:
    feature: str
    path: Path
    cases: tuple[Case, ...]
    scorers: Mapping[str, CompiledScorer]
    metrics: Mapping[str, Mapping[str, float]]
    digest: str
    repeats: int | None = None
    description: str = ""

    @property
    def metric_names(self) -> list[str]:
        return [*self.metrics, PASS_RATE]

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)


# ---------------------------------------------------------------- loading


def suite_path(project_root: Path, feature: str) -> Path:
    return project_root / "evals" / feature / "suite.yaml"


def load_suite(path: Path, feature: str | None = None, root: Path | None = None) -> Suite:
    """Load and check a suite. Raises ConfigError('file:line: …') on any problem."""
    display = _display(path, root)
    doc = load_located(path, display)
    if not isinstance(doc.data, dict):
        raise config_error(doc.where(), "a suite must be a YAML mapping")
    spec = validate_located(SuiteSpec, doc)
    name = feature or spec.feature or path.parent.name
    if spec.feature and feature and spec.feature != feature:
        message = f"suite is for {spec.feature!r}, not {feature!r}"
        raise config_error(doc.where(("feature",)), message)
    scorers = {n: _compile_scorer(n, s, doc, path.parent, root) for n, s in spec.scorers.items()}
    metrics = _check_metrics(spec.metrics or {"quality": dict.fromkeys(scorers, 1.0)}, scorers, doc)
    cases = _load_cases(spec, doc, path.parent, root)
    _check_cases(cases, scorers)
    return Suite(
        feature=name,
        path=path,
        cases=tuple(cases),
        scorers=scorers,
        metrics=metrics,
        digest=_suite_digest(spec, cases),
        repeats=spec.repeats,
        description=spec.description,
    )


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _check_metrics(
    metrics: Mapping[str, Mapping[str, float]],
    scorers: Mapping[str, CompiledScorer],
    doc: Located,
) -> dict[str, dict[str, float]]:
    checked: dict[str, dict[str, float]] = {}
    for metric, weights in metrics.items():
        where = doc.where(("metrics", metric))
        if metric == PASS_RATE:
            raise config_error(where, f"metric name {PASS_RATE!r} is built in")
        if not weights:
            raise config_error(where, f"metric {metric!r} has no scorers")
        for scorer, weight in weights.items():
            if scorer not in scorers:
                known = ", ".join(sorted(scorers))
                raise config_error(
                    doc.where(("metrics", metric, scorer)),
                    f"metric {metric!r} uses unknown scorer {scorer!r} (known: {known})",
                )
            if weight <= 0:
                raise config_error(doc.where(("metrics", metric, scorer)), "weight must be > 0")
        checked[metric] = dict(weights)
    return checked


def _compile_scorer(
    name: str, spec: Any, doc: Located, suite_dir: Path, root: Path | None
) -> CompiledScorer:
    if isinstance(spec, PythonScorer):
        where = doc.where(("scorers", name, "function"))
        return CompiledScorer(name, spec, _import_function(spec.function, suite_dir, root, where))
    return CompiledScorer(name, spec)


def _import_function(ref: str, suite_dir: Path, root: Path | None, where: str) -> UserFunction:
    module_ref, _, attr = ref.rpartition(":")
    try:
        if module_ref.endswith(".py"):
            module = _module_from_file(suite_dir / module_ref)
        else:
            with _import_path([suite_dir, *([root] if root else [])]):
                module = importlib.import_module(module_ref)
    except (ImportError, OSError, SyntaxError) as exc:
        raise config_error(where, f"cannot import scorer {ref!r}: {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise config_error(where, f"scorer {ref!r}: {module_ref} has no function {attr!r}")
    result: UserFunction = function
    return result


def _module_from_file(path: Path) -> Any:
    if not path.is_file():
        raise ImportError(f"no such file {path}")
    name = "rampway_user_scorer_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


@contextmanager
def _import_path(paths: list[Path]) -> Iterator[None]:
    """User scorer modules live next to the suite or in the project; restore sys.path after."""
    saved = list(sys.path)
    sys.path[:0] = [str(p) for p in paths]
    try:
        yield
    finally:
        sys.path[:] = saved


# ---------------------------------------------------------------- cases


@dataclass(slots=True)
class _RawCase:
    data: dict[str, Any]
    where: str
    source: str
    position: int
    extra_tags: list[str]
    doc: Located | None = None
    loc: tuple[str | int, ...] = ()


def _load_cases(spec: SuiteSpec, doc: Located, suite_dir: Path, root: Path | None) -> list[Case]:
    raws: list[_RawCase] = []
    inline = 0
    for index, entry in enumerate(spec.cases):
        loc: tuple[str | int, ...] = ("cases", index)
        if "file" in entry:
            try:
                include = IncludeSpec.model_validate(entry)
            except ValidationError as exc:
                raise located_validation_error(exc, doc, loc) from exc
            raws.extend(_read_case_file(suite_dir / include.file, include, root, doc.where(loc)))
        else:
            inline += 1
            raws.append(_RawCase(entry, doc.where(loc), "case", inline, [], doc, loc))
    cases = [_build_case(raw) for raw in raws]
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            message = f"duplicate case id {case.id!r} (first at {seen[case.id]})"
            raise config_error(case.where, message)
        seen[case.id] = case.where
    return cases


def _build_case(raw: _RawCase) -> Case:
    try:
        spec = CaseSpec.model_validate(raw.data)
    except ValidationError as exc:
        if raw.doc is not None:
            raise located_validation_error(exc, raw.doc, raw.loc) from exc
        raise config_error(raw.where, describe_error(exc, raw.data)[1]) from exc
    if not (spec.vars or spec.input is not None or spec.messages):
        raise config_error(raw.where, "a case needs vars, input or messages")
    messages = (
        tuple(Message(role=m.role, content=m.content) for m in spec.messages)  # type: ignore[arg-type]
        if spec.messages
        else None
    )
    inputs = {"vars": spec.vars, "input": spec.input, "messages": _messages_json(spec.messages)}
    return Case(
        id=spec.id or f"{raw.source}-{raw.position}",
        where=raw.where,
        vars=spec.vars,
        input=spec.input,
        messages=messages,
        expect=spec.expect,
        tags=frozenset([*spec.tags, *raw.extra_tags]),
        weight=spec.weight,
        scorers=tuple(spec.scorers) if spec.scorers is not None else None,
        input_hash=canonical_hash(inputs),
    )


def _messages_json(messages: list[MessageSpec] | None) -> list[dict[str, str]] | None:
    return [m.model_dump() for m in messages] if messages else None


def _read_case_file(
    path: Path, include: IncludeSpec, root: Path | None, where: str
) -> list[_RawCase]:
    display = _display(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error(where, f"cannot read case file {include.file}: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = _jsonl_rows(text, display)
    elif suffix == ".csv":
        rows = _csv_rows(text, display)
    elif suffix in (".yaml", ".yml"):
        return _yaml_rows(text, display, include.tags, path.stem)
    else:
        raise config_error(where, f"case file {include.file}: use .jsonl, .csv or .yaml")
    return [
        _RawCase(data, f"{display}:{line}", path.stem, n, include.tags)
        for n, (line, data) in enumerate(rows, start=1)
    ]


def _jsonl_rows(text: str, display: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise config_error(f"{display}:{number}", f"invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise config_error(f"{display}:{number}", "each line must be a JSON object")
        rows.append((number, data))
    return rows


def _csv_rows(text: str, display: str) -> list[tuple[int, dict[str, Any]]]:
    """Columns: id, input, tags, weight, expect.<key>, vars.<key>; any other column is a var."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise config_error(f"{display}:1", "CSV file has no header row")
    rows = []
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise config_error(f"{display}:{start}", "row has a different number of columns")
        rows.append((start, _csv_case(row)))
    return rows


def _csv_case(row: Mapping[str, str]) -> dict[str, Any]:
    case: dict[str, Any] = {"vars": {}, "expect": {}}
    for column, value in row.items():
        key = column.strip()
        if key in ("id", "input", "tags", "weight"):
            if value != "":
                case[key] = value
        elif key.startswith("expect."):
            case["expect"][key.removeprefix("expect.")] = _cell(value)
        else:
            case["vars"][key.removeprefix("vars.")] = value
    return case


def _cell(value: str) -> Any:
    """Expectations in CSV may be JSON (objects, lists, null); plain text stays text."""
    stripped = value.strip()
    if stripped[:1] in ("{", "[") or stripped == "null":
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def _yaml_rows(text: str, display: str, tags: list[str], stem: str) -> list[_RawCase]:
    doc = parse_located(text, display)
    data = doc.data.get("cases") if isinstance(doc.data, dict) else doc.data
    base: tuple[str | int, ...] = ("cases",) if isinstance(doc.data, dict) else ()
    if not isinstance(data, list):
        raise config_error(doc.where(), "a YAML case file must be a list of cases")
    raws = []
    for n, item in enumerate(data, start=1):
        loc = (*base, n - 1)
        if not isinstance(item, dict):
            raise config_error(doc.where(loc), "each case must be a mapping")
        raws.append(_RawCase(item, doc.where(loc), stem, n, tags, doc, loc))
    return raws


def _check_cases(cases: list[Case], scorers: Mapping[str, CompiledScorer]) -> None:
    readers = {s.reads() for s in scorers.values()} - {None}
    for case in cases:
        for name in case.scorers or ():
            if name not in scorers:
                raise config_error(case.where, f"case {case.id!r} names unknown scorer {name!r}")
        for key in case.expect:
            if key not in readers and not _read_by_judge_or_flag(key, scorers):
                raise config_error(
                    case.where, f"case {case.id!r}: no scorer reads expectation {key!r}"
                )
        if not any(s.applies(case) for s in scorers.values()):
            raise config_error(case.where, f"case {case.id!r}: no scorer applies to it")


def _read_by_judge_or_flag(key: str, scorers: Mapping[str, CompiledScorer]) -> bool:
    """Scorers that always apply may still read an optional expectation (judge reference…)."""
    return any((s.spec.expect or s.name) == key for s in scorers.values())


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _suite_digest(spec: SuiteSpec, cases: list[Case]) -> str:
    body = {
        "scorers": {n: s.model_dump(mode="json", by_alias=True) for n, s in spec.scorers.items()},
        "metrics": spec.metrics,
        "cases": [
            [c.id, c.input_hash, dict(c.expect), sorted(c.tags), c.weight, c.scorers]
            for c in cases
        ],
    }
    return canonical_hash(body)


def require_suite(project_root: Path, feature: str) -> Suite:
    path = suite_path(project_root, feature)
    if not path.is_file():
        raise ConfigError(f"no eval suite for {feature!r}: expected {_display(path, project_root)}")
    return load_suite(path, feature, project_root)
