"""YAML loading that remembers where every key came from, so errors can say `file:line`.

PyYAML's `safe_load` throws line numbers away. We compose the node tree instead, build plain
Python values from it ourselves and keep a map from each key path to its 1-based line:

    doc = load_located(text, "releases/bot/release.yaml")
    doc.data["params"]["temperature"]        # 0.2
    doc.line_of(("params", "temperature"))   # 7
    doc.line_of(("params", "temperature", "x"))  # 7 — the nearest known ancestor

Duplicate keys are an error (PyYAML silently keeps the last one, which hides typos).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rampway.errors import ConfigError, ReleaseError

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LocatedYaml:
    """Plain data plus the line of each key path (paths use str keys and int list indexes)."""

    data: Any
    lines: dict[Path_, int]

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """Line of `path`, or of its nearest ancestor that exists in the document."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


class _NodeError(Exception):
    """Raised inside the builder; turned into the caller's error type with file and line."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Builder:
    """Turns composed nodes into plain values while recording lines."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self._scalars = SafeConstructor()

    def build(self, node: Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            try:
                return self._scalars.construct_object(node, deep=True)
            except ConstructorError as exc:
                raise _NodeError(f"invalid value: {exc.problem}", node.start_mark.line + 1) from exc
        raise _NodeError("unsupported YAML node", node.start_mark.line + 1)

    def _mapping(self, node: MappingNode, path: Path_) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _NodeError("YAML merge keys (<<) are not supported", line)
            key = self.build(key_node, (*path, "<key>"))
            if not isinstance(key, str | int | float | bool):
                raise _NodeError("mapping keys must be scalars", line)
            if key in out:
                raise _NodeError(f"duplicate key '{key}'", line)
            child: Path_ = (*path, str(key))
            self.lines[child] = line
            out[key] = self.build(value_node, child)
        self.lines.pop((*path, "<key>"), None)
        return out


def load_located(text: str, file: str, *, error: type[ConfigError] = ReleaseError) -> LocatedYaml:
    """Parse one YAML document; malformed YAML raises `error` naming `file:line`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise _error(error, f"malformed YAML: {problem}", file, line) from exc
    except yaml.YAMLError as exc:
        raise _error(error, f"malformed YAML: {exc}", file, None) from exc
    if node is None:
        return LocatedYaml(data=None, lines={})
    builder = _Builder()
    try:
        data = builder.build(node, ())
    except _NodeError as exc:
        raise _error(error, exc.message, file, exc.line) from exc
    return LocatedYaml(data=data, lines=builder.lines)


def _error(kind: type[ConfigError], message: str, file: str, line: int | None) -> ConfigError:
    if issubclass(kind, ReleaseError):
        return kind(message, file=file, line=line)
    where = f"{file}:{line}" if line else file
    return kind(f"{where}: {message}")


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def describe_validation_error(error: Mapping[str, Any], data: Any) -> tuple[Path_, str]:
    """(clean key path, one-line message) for one pydantic error dict.

    Pydantic locations contain union tags (`'json_schema'`, `'function-after[...]'`) that are not
    keys of the document; we keep only components that exist in `data`, plus a final missing or
    unknown key, so the path reads like the YAML the user wrote.
    """
    loc = tuple(error.get("loc", ()))
    clean: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if _has(current, part):
            clean.append(part)
            current = current[part]
        elif last and isinstance(part, str) and "[" not in part:
            clean.append(part)
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in clean).lstrip(".")
    return tuple(clean), f"{dotted}: {msg}" if dotted else msg


def validate_located(
    model: type[M], data: Any, file: str,
    line_of: Callable[[Path_], int | None] | None = None,
) -> M:
    """`model.model_validate(data)`; its first error as one ConfigError `file:line: key: why`
    (`line_of` maps the key path to its line; without it, or for an unknown line, `file: …`).
    Without `line_of` the data is a request body's field named `file`, and the error's `param`
    names the key inside it (`definition.arms.0.weight`), as the API's other 400s do."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        path, message = describe_validation_error(exc.errors()[0], data)
        message = message.replace("Value error, ", "")
        if line_of is None:
            param = ".".join(str(p) for p in (file, *path))
            raise ConfigError(f"{file}: {message}", param=param) from exc
        line = line_of(path)
        raise ConfigError(f"{file}:{line}: {message}" if line else f"{file}: {message}") from exc


__all__ = ["LocatedYaml", "describe_validation_error", "load_located", "validate_located"]
