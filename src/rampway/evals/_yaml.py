"""YAML documents that remember where every value came from.

Config errors must name `file:line`; pydantic reports a location path such as
`("cases", 3, "expect")`, so we keep a map from such paths to source lines and look the
nearest known prefix up when something fails.

Example:
    doc = load_located(Path("evals/support-bot/suite.yaml"))
    doc.where(("cases", 3, "expect"))   # -> "evals/support-bot/suite.yaml:41"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rampway.errors import ConfigError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed document plus the 1-based line of every mapping key and list item."""

    data: Any
    path: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Sequence[str | int]) -> int | None:
        """Line of `loc`, or of its nearest located ancestor."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def where(self, loc: Sequence[str | int] = ()) -> str:
        line = self.line(loc)
        return f"{self.path}:{line}" if line else self.path


def config_error(where: str, message: str) -> ConfigError:
    """The one error shape for bad eval/gate input: `file:line: message`."""
    return ConfigError(f"{where}: {message}")


def parse_located(text: str, path: str) -> Located:
    """Parse YAML text; syntax errors become a ConfigError naming the line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        lines: dict[Loc, int] = {}
        if node is not None:
            _walk(loader, node, (), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise config_error(where, f"invalid YAML: {problem}") from exc
    finally:
        loader.dispose()
    return Located(data=data, path=path, lines=lines)


def load_located(path: Path, display: str | None = None) -> Located:
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error(shown, f"cannot read file: {exc.strerror or exc}") from exc
    return parse_located(text, shown)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)
            if isinstance(key, str | int):
                lines[(*loc, key)] = key_node.start_mark.line + 1
                _walk(loader, value_node, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*loc, index), lines)


def validate_located(model: type[M], doc: Located, data: Any = None, base: Loc = ()) -> M:
    """Validate with pydantic; the first error becomes `file:line: field: message`."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as exc:
        raise located_validation_error(exc, doc, base) from exc


def located_validation_error(exc: ValidationError, doc: Located, base: Loc = ()) -> ConfigError:
    first = exc.errors()[0]
    loc = (*base, *(part for part in first["loc"] if isinstance(part, str | int)))
    loc = _strip_union_tags(loc, doc.data)
    field_name = ".".join(str(part) for part in loc) or "document"
    return config_error(doc.where(loc), f"{field_name}: {_clean(first['msg'])}")


def _strip_union_tags(loc: Loc, data: Any) -> Loc:
    """Drop pydantic's discriminated-union tags (e.g. 'contains') that are not real keys."""
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


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")
