"""Load `flags/*.yaml` files into one FlagSet, with `file:line` in every error.

This is the only module of `rampway.flags` that does I/O (reading the files); it parses them
with line tracking and hands plain data to the pure compiler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from rampway._yaml import LocatedYaml, load_located
from rampway.errors import FlagError
from rampway.flags._compile import FlagSet
from rampway.flags._model import Flag, Segment
from rampway.flags._parse import parse_flag, parse_segment, split_document

DocPath = tuple[str | int, ...]


class _Origin:
    """Which file (and parsed document) each flag and segment came from."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], tuple[str, LocatedYaml]] = {}

    def add(self, kind: str, key: str, file: str, doc: LocatedYaml) -> None:
        if (kind, key) in self.docs:
            first, first_doc = self.docs[(kind, key)]
            line = first_doc.line_of((kind, key))
            raise _located(
                FlagError(f"duplicate {kind[:-1]} '{key}' (first defined at {first}:{line})"),
                file,
                doc,
                (kind, key),
            )
        self.docs[(kind, key)] = (file, doc)

    def locate(self, exc: FlagError) -> FlagError:
        """The error with the file and line of the flag/rule/path it names."""
        found = self._base(exc)
        if found is None:
            return exc
        (file, doc), base, rest = found
        return _located(exc, file, doc, base + _walk(doc.data, base, rest))

    def _base(self, exc: FlagError) -> tuple[tuple[str, LocatedYaml], DocPath, list[str]] | None:
        rest = exc.path.split(".") if exc.path else []
        if exc.flag is not None and ("flags", exc.flag) in self.docs:
            base: DocPath = ("flags", exc.flag)
            if exc.rule is not None:
                base += ("rules", exc.rule)
            return self.docs[("flags", exc.flag)], base, rest
        for (kind, key), origin in sorted(self.docs.items(), key=lambda kv: -len(kv[0][1])):
            if exc.path == f"{kind}.{key}" or exc.path.startswith(f"{kind}.{key}."):
                return origin, (kind, key), exc.path[len(kind) + len(key) + 2 :].split(".")
        return None


def _walk(data: Any, base: DocPath, parts: list[str]) -> DocPath:
    """Resolve dotted error-path parts against the document (keys may contain dots)."""
    node = data
    for key in base:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
    out: list[str | int] = []
    i = 0
    while i < len(parts):
        step = _step(node, parts, i)
        if step is None:
            break
        key, node, i = step
        out.append(key)
    return tuple(out)


def _step(node: Any, parts: list[str], i: int) -> tuple[str | int, Any, int] | None:
    if isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
        return int(parts[i]), node[int(parts[i])], i + 1
    if isinstance(node, Mapping):
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                return key, node[key], j
    return None


def _located(exc: FlagError, file: str, doc: LocatedYaml, path: DocPath) -> FlagError:
    return type(exc)(
        exc.reason,
        flag=exc.flag,
        rule=exc.rule,
        path=exc.path,
        file=file,
        line=doc.line_of(path),
    )


def load_flag_files(
    paths: Iterable[str | PathLike[str]], check: Callable[[FlagSet], None] | None = None
) -> FlagSet:
    """Read, validate and compile flag files together (segments are shared across files).

    Raises FlagError naming `file:line` for unreadable files, malformed YAML, invalid
    definitions and duplicate keys; nothing is returned unless every file is valid. `check`
    runs a further test over the compiled set (e.g. model routability) whose FlagErrors get
    the same `file:line`.
    """
    origin = _Origin()
    flags: dict[str, Flag] = {}
    segments: dict[str, Segment] = {}
    for path in paths:
        file = str(path)
        doc = _read(file)
        try:
            flag_specs, segment_specs = split_document(doc.data)
        except FlagError as exc:
            raise _located(exc, file, doc, tuple(exc.path.split(".")) if exc.path else ()) from exc
        for key, spec in segment_specs.items():
            origin.add("segments", str(key), file, doc)
            segments[str(key)] = _parse(origin, parse_segment, key, spec)
        for key, spec in flag_specs.items():
            origin.add("flags", str(key), file, doc)
            flags[str(key)] = _parse(origin, parse_flag, key, spec)
    try:
        compiled = FlagSet(flags, segments)
        if check is not None:
            check(compiled)
        return compiled
    except FlagError as exc:
        raise origin.locate(exc) from exc


def _parse(origin: _Origin, parse: Any, key: Any, spec: Any) -> Any:
    try:
        return parse(key, spec)
    except FlagError as exc:
        raise origin.locate(exc) from exc


def _read(file: str) -> LocatedYaml:
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlagError(f"cannot read flag file: {exc}", file=file) from exc
    return load_located(text, file, error=FlagError)
