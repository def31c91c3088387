"""The files a promptfoo config points at (`file://…`), read so the converter sees plain data.

promptfoo lets `tests:` be a file (or a list mixing files, globs and inline tests) and each
prompt be a file. This is the I/O half of `rampway import promptfoo`: it reads those files
the way promptfoo does and hands `rampway.evals.promptfoo.convert` a config whose `tests` is a
list of test mappings and whose `prompts` are text or chat messages. What it cannot read the
way promptfoo would (scripts, spreadsheets) is listed, never dropped silently.

    tests: file://tests.csv            # columns are vars; __expected[N] hold assertions
    tests: [file://cases/*.yaml, {vars: {…}}]
    prompts: [file://prompts.txt]      # several prompts separated by a line `---`
    prompts: [file://chat.json]        # a chat prompt: [{role, content}, …]
    vars: {article: file://docs/a.txt} # the file's text, trimmed (YAML: as JSON; images: base64)
    vars: {doc: file://docs/*.md}      # a glob: one value per file, so one case per file

Var files are read as promptfoo's `renderPrompt` reads them, relative to the config: text
trimmed, `.yaml`/`.yml` parsed and written back as JSON, images and videos as base64. A glob
becomes a list of those values, which the converter expands like any list var. Scripts
(`.js`, `.py`, …) and PDFs are left as references for the converter to name.

    config, notes = read_files(raw_config, Path("promptfooconfig.yaml").parent)

A referenced file that does not exist, or does not parse, is a ConfigError naming it.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rampway.errors import ConfigError

_TEST_SUFFIXES = (".csv", ".json", ".jsonl", ".yaml", ".yml")
_DELIMITER = re.compile(r"^---\s*$", re.MULTILINE)  # promptfoo's PROMPT_DELIMITER in .txt files
# promptfoo's assertion types an `__expected` cell may name (`type:value`, `type(threshold):…`)
_TYPES = (
    "answer-relevance", "bleu", "classifier", "contains-all", "contains-any", "contains-html",
    "contains-json", "contains-sql", "contains-xml", "contains", "context-faithfulness",
    "context-recall", "context-relevance", "cost", "equals", "factuality", "finish-reason",
    "g-eval", "gleu", "icontains-all", "icontains-any", "icontains", "is-html", "is-json",
    "is-refusal", "is-sql", "is-valid-openai-function-call", "is-valid-openai-tools-call",
    "is-xml", "javascript", "latency", "levenshtein", "llm-rubric", "meteor",
    "model-graded-closedqa", "model-graded-factuality", "moderation", "perplexity-score",
    "perplexity", "python", "regex", "rouge-n", "similar", "starts-with", "webhook",
    "word-count",
)
_ASSERTION = re.compile(
    rf"^(not-)?({'|'.join(re.escape(t) for t in _TYPES)})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_LIST_TYPES = {"contains-all", "contains-any", "icontains-all", "icontains-any"}
_RAW_TYPES = {"contains-json", "is-json"}
_THRESHOLD_TYPES = {"cost", "latency", "levenshtein", "similar", "starts-with", "rouge-n",
                    "answer-relevance", "classifier", "context-faithfulness", "context-recall",
                    "context-relevance", "perplexity", "perplexity-score"}


def read_files(config: Mapping[str, Any], base: Path) -> tuple[dict[str, Any], list[str]]:
    """`config` with its test and prompt files read; notes on what could not be read."""
    notes: list[str] = []
    out = dict(config)
    if isinstance(config.get("defaultTest"), str):
        out["defaultTest"] = _one_mapping(_ref(config["defaultTest"]), base, "defaultTest")
    if "tests" in config:
        out["tests"] = _tests(config["tests"], base, notes)
        if isinstance(out["tests"], list):
            out["tests"] = [_with_var_files(t, base) for t in out["tests"]]
    if isinstance(out.get("defaultTest"), Mapping):
        out["defaultTest"] = _with_var_files(out["defaultTest"], base)
    if "prompts" in config:
        out["prompts"] = _prompts(config["prompts"], base, notes)
    return out, notes


# ---------------------------------------------------------------- tests


def _tests(raw: Any, base: Path, notes: list[str]) -> list[Any]:
    items = raw if isinstance(raw, list) else [raw]
    tests: list[Any] = []
    for item in items:
        path = _ref(item) if isinstance(item, str) else None
        if path is None:
            tests.append(item)
            continue
        for file in _expand(path, base, "tests"):
            tests.extend(_test_file(file, base, notes))
    return tests


def _test_file(file: Path, base: Path, notes: list[str]) -> list[Any]:
    shown = _shown(file, base)
    suffix = file.suffix.lower()
    if suffix not in _TEST_SUFFIXES:
        notes.append(f"tests: {shown} (promptfoo reads {suffix or 'this'} files itself: "
                     "scripts and spreadsheets are not imported; export it as CSV, JSON or YAML)")
        return []
    text = _read(file, shown)
    if suffix == ".csv":
        try:
            return [csv_test(row) for row in _csv_rows(text, shown)]
        except ValueError as exc:  # a threshold cell that is not a number
            raise ConfigError(f"{shown}: {exc}") from exc
    if suffix == ".jsonl":
        return [_json(line, f"{shown}:{n}") for n, line in enumerate(text.splitlines(), 1)
                if line.strip()]
    data = _json(text, shown) if suffix == ".json" else _yaml(text, shown)
    if isinstance(data, Mapping) and isinstance(data.get("tests"), list):
        data = data["tests"]
    if not isinstance(data, list):
        raise ConfigError(f"{shown}: a tests file must hold a list of tests")
    return data


def _csv_rows(text: str, shown: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise ConfigError(f"{shown}: the CSV file has no header row")
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise ConfigError(f"{shown}:{reader.line_num}: row has a different number of columns")
        rows.append(row)
    return rows


def csv_test(row: Mapping[str, str]) -> dict[str, Any]:
    """One CSV row as promptfoo reads it (`testCaseFromCsvRow`): vars, assertions, options."""
    test: dict[str, Any] = {"vars": {}, "assert": []}
    thresholds: dict[int, float] = {}
    for column, value in row.items():
        key = column.strip()
        if key.startswith("__expected"):
            if value.strip():
                test["assert"].append(assertion_from_string(value.strip()))
        elif key == "__description":
            test["description"] = value
        elif key in ("__prefix", "__suffix"):
            test.setdefault("options", {})[key[2:]] = value
        elif key == "__threshold":
            test["threshold"] = float(value) if value.strip() else None
        elif key.startswith("__config:") and key.endswith(":threshold") and value.strip():
            index = key.removeprefix("__config:").removesuffix(":threshold")
            thresholds[int(index.removeprefix("__expected") or "1") - 1] = float(value)
        elif key.startswith(("__metadata", "__metric", "__providerOutput")):
            continue  # metadata and metric names only label promptfoo's own reports
        else:
            test["vars"][key] = value
    for position, threshold in thresholds.items():
        if position < len(test["assert"]):
            test["assert"][position]["threshold"] = threshold
    return test


def assertion_from_string(expected: str) -> dict[str, Any]:
    """promptfoo's `assertionFromString`: `icontains:bonjour`, `similar(0.9):…`, else equals."""
    for prefix, kind in (("javascript:", "javascript"), ("fn:", "javascript"),
                         ("eval:", "javascript"), ("grade:", "llm-rubric"),
                         ("llm-rubric:", "llm-rubric"), ("python:", "python")):
        if expected.startswith(prefix):
            return {"type": kind, "value": expected[len(prefix):].strip()}
    if expected.startswith("file://"):
        script = "python" if ".py" in expected else "javascript"
        return {"type": script, "value": expected}
    found = _ASSERTION.match(expected)
    if found is None:
        return {"type": "equals", "value": expected}
    negated, kind, threshold, value = found.groups()
    full = f"{negated or ''}{kind}"
    if kind in _LIST_TYPES:
        return {"type": full, "value": [v.strip() for v in value.split(",")] if value else value}
    if kind in _RAW_TYPES:
        return {"type": full, "value": value}
    out: dict[str, Any] = {"type": full, "value": value.strip() if value else value}
    if kind in _THRESHOLD_TYPES:
        out["threshold"] = float(threshold) if threshold else (0.8 if kind == "similar" else 0.75)
    return out


# ---------------------------------------------------------------- vars

_UNREAD_VAR_SUFFIXES = (".js", ".ts", ".mjs", ".cjs", ".py", ".pdf")  # run or extracted
_BINARY_VAR_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".svg",  # base64
                        ".mp4", ".webm", ".ogg", ".mov", ".avi", ".wmv", ".mkv", ".m4v")


def _with_var_files(test: Any, base: Path) -> Any:
    """A test whose `file://` vars hold the files' contents (a glob: a list, one per file)."""
    if not isinstance(test, Mapping) or not isinstance(test.get("vars"), Mapping):
        return test
    variables: dict[str, Any] = {}
    for name, value in test["vars"].items():
        path = value.removeprefix("file://") if isinstance(value, str) else None
        if path is not None and path != value:
            glob = any(c in path for c in "*?[")
            loaded = [_var_file(f, f"file://{_shown(f, base)}" if glob else value, base)
                      for f in _expand(path, base, f"vars.{name}")]
            variables[name] = loaded if glob else loaded[0]
        elif isinstance(value, list) and value and isinstance(value[0], str):
            # promptfoo expands a list of strings and loads each `file://` item (no glob)
            variables[name] = [
                _var_file(_expand(v[7:], base, f"vars.{name}")[0], v, base)
                if isinstance(v, str) and v.startswith("file://") and not any(
                    c in v for c in "*?[") else v
                for v in value
            ]
        else:
            variables[name] = value
    return {**test, "vars": variables}


def _var_file(file: Path, ref: str, base: Path) -> str:
    """One var file's value as promptfoo renders it; scripts and PDFs stay `file://` refs."""
    suffix = file.suffix.lower()
    if suffix in _UNREAD_VAR_SUFFIXES:
        return ref
    shown = _shown(file, base)
    if suffix in _BINARY_VAR_SUFFIXES:
        try:
            return base64.b64encode(file.read_bytes()).decode("ascii")
        except OSError as exc:
            raise ConfigError(f"{shown}: cannot read: {exc}") from exc
    text = _read(file, shown)
    if suffix in (".yaml", ".yml"):
        return json.dumps(_yaml(text, shown), ensure_ascii=False, separators=(",", ":"),
                          default=str)
    return text.strip()


# ---------------------------------------------------------------- prompts


def _prompts(raw: Any, base: Path, notes: list[str]) -> list[Any]:
    items = raw if isinstance(raw, list) else [raw]
    prompts: list[Any] = []
    for item in items:
        ref = item.get("id") if isinstance(item, Mapping) and "raw" not in item else item
        path = _ref(ref) if isinstance(ref, str) else None
        if path is None:
            prompts.append(item)
            continue
        for file in _expand(path.split(":")[0] if _is_function(path) else path, base, "prompts"):
            prompts.extend(_prompt_file(file, base, notes, function=_is_function(path)))
    return prompts


def _is_function(path: str) -> bool:
    """`file://prompts.py:make_prompt` names a prompt function (Python or JavaScript)."""
    return bool(re.search(r"\.(py|js|ts|mjs|cjs):\w+$", path))


def _prompt_file(file: Path, base: Path, notes: list[str], *, function: bool) -> list[Any]:
    shown = _shown(file, base)
    suffix = file.suffix.lower()
    if function or suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
        notes.append(f"prompts: {shown} is a prompt function (promptfoo runs it); "
                     "write its output as a release template")
        return []
    text = _read(file, shown)
    if suffix in (".json", ".jsonl", ".yaml", ".yml"):
        data = _json(text, shown) if suffix == ".json" else _yaml(text, shown)
        if _is_chat(data):
            return [{"chat": data, "label": f"file://{shown}"}]
        notes.append(f"prompts: {shown} is not a chat prompt (a list of {{role, content}})")
        return []
    parts = [p.strip() for p in _DELIMITER.split(text)] if suffix == ".txt" else [text.strip()]
    return [{"raw": p, "label": f"file://{shown}"} for p in parts if p]


def _is_chat(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and all(
        isinstance(m, Mapping) and isinstance(m.get("role"), str) and "content" in m
        for m in data
    )


# ---------------------------------------------------------------- helpers


def _ref(value: Any) -> str | None:
    """The path of a `file://` reference (or of a bare test file name), else None."""
    if not isinstance(value, str):
        return None
    if value.startswith("file://"):
        return value.removeprefix("file://")
    return value if value.lower().endswith(_TEST_SUFFIXES) and "\n" not in value else None


def _expand(path: str, base: Path, field: str) -> list[Path]:
    if any(c in path for c in "*?["):
        matches = sorted(base.glob(path))
        if not matches:
            raise ConfigError(f"{field}: file://{path} matches no file")
        return matches
    file = base / path
    if not file.is_file():
        raise ConfigError(f"{field}: file://{path}: no such file next to the config")
    return [file]


def _one_mapping(path: str | None, base: Path, field: str) -> Any:
    if path is None:
        return {}
    file = _expand(path, base, field)[0]
    return _yaml(_read(file, _shown(file, base)), _shown(file, base))


def _shown(file: Path, base: Path) -> str:
    try:
        return str(file.relative_to(base))
    except ValueError:
        return str(file)


def _read(file: Path, shown: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read: {exc}") from exc


def _json(text: str, shown: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{shown}: invalid JSON: {exc}") from exc


def _yaml(text: str, shown: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        raise ConfigError(f"{where}: malformed YAML: {getattr(exc, 'problem', exc)}") from exc


__all__ = ["assertion_from_string", "csv_test", "read_files"]
