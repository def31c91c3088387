"""Eval suites, case files and gate policies as located YAML, with one error shape.

Parsing and line tracking are the shared loader's (`rampway._yaml`, as for config, releases
and flags: duplicate keys are errors too). This module adds what evals and the gate need on
top: the file name travels with the document, every problem is a ConfigError
`file:line: message`, and pydantic errors name the key path the user wrote.

    doc = load_located(Path("evals/support-bot/suite.yaml"), "evals/support-bot/suite.yaml")
    doc.where(("cases", 3, "expect"))   # -> "evals/support-bot/suite.yaml:41"
    spec = validate_located(SuiteSpec, doc)   # or ConfigError "…suite.yaml:9: scorers.x: …"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rampway._yaml import LocatedYaml, describe_validation_error
from rampway._yaml import load_located as _parse
from rampway.errors import ConfigError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed document, the name it is shown by, and the line of every key and item."""

    doc: LocatedYaml
    path: str

    @property
    def data(self) -> Any:
        return self.doc.data

    def where(self, loc: Sequence[str | int] = ()) -> str:
        """`path:line` of `loc` (or of its nearest located ancestor); `path` if none."""
        line = self.doc.line_of(loc)
        return f"{self.path}:{line}" if line else self.path


def config_error(where: str, message: str) -> ConfigError:
    """The one error shape for bad eval/gate input: `file:line: message`."""
    return ConfigError(f"{where}: {message}")


def read_text(path: Path, display: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error(display, f"cannot read file: {exc.strerror or exc}") from exc


def parse_located(text: str, path: str) -> Located:
    """Parse YAML text; malformed YAML is a ConfigError naming `path:line`."""
    return Located(_parse(text, path, error=ConfigError), path)


def load_located(path: Path, display: str | None = None) -> Located:
    shown = display or str(path)
    return parse_located(read_text(path, shown), shown)


def load_plain(path: Path, display: str | None = None) -> Any:
    """A foreign YAML file (a promptfoo config) as PyYAML reads it, anchors and merge keys
    included; only syntax errors are reported, as `file:line: malformed YAML: …`."""
    shown = display or str(path)
    text = read_text(path, shown)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = getattr(exc, "problem", None) or str(exc)
        raise config_error(where, f"malformed YAML: {problem}") from exc


def validate_located(model: type[M], doc: Located, data: Any = None, base: Loc = ()) -> M:
    """Validate with pydantic; the first error becomes `file:line: key.path: message`."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as exc:
        raise located_validation_error(exc, doc, base) from exc


def located_validation_error(exc: ValidationError, doc: Located, base: Loc = ()) -> ConfigError:
    """The first pydantic error of a value found at `base` in `doc`, located in the file."""
    path, message = describe_error(exc, doc.data, base)
    return config_error(doc.where(path), message)


def describe_error(exc: ValidationError, data: Any, base: Loc = ()) -> tuple[Loc, str]:
    """(key path, `key.path: message`) of the first error; union tags such as a scorer's
    `type` value ('contains') are dropped so the path reads like the YAML."""
    first = exc.errors()[0]
    loc = (*base, *(part for part in first["loc"] if isinstance(part, str | int)))
    error: Mapping[str, Any] = {**first, "loc": _strip_union_tags(loc, data),
                                "msg": str(first["msg"]).removeprefix("Value error, ")}
    path, message = describe_validation_error(error, data)
    return path, message if path else f"document: {message}"


def _strip_union_tags(loc: Loc, data: Any) -> Loc:
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        kept.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(kept)


__all__ = ["Located", "config_error", "describe_error", "load_located", "load_plain",
           "located_validation_error", "parse_located", "read_text", "validate_located"]
