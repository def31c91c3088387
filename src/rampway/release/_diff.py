"""What changed between two releases: prompt text as unified diffs, everything else field by field.

    d = diff_releases(old, new)
    d.fields   # (FieldChange("model", "changed", "sim-small", "sim-large"), …)
    d.files    # (FileChange("prompts/system.md", "modified", "--- …\\n+++ …\\n@@ …"),)
    print(d.render())

Tools are matched by function name (so reordering them is no change), few-shot examples by
position, and any other list (stop sequences, fallbacks, enum values) is compared as one value.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Literal

from rampway.release._release import Release

ChangeKind = Literal["added", "removed", "changed"]
FileStatus = Literal["added", "removed", "modified"]
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    kind: ChangeKind
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "before": self.before, "after": self.after}

    def render(self) -> str:
        if self.kind == "added":
            return f"+ {self.path}: {_show(self.after)}"
        if self.kind == "removed":
            return f"- {self.path}: {_show(self.before)}"
        return f"~ {self.path}: {_show(self.before)} → {_show(self.after)}"


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    status: FileStatus
    diff: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "diff": self.diff}


@dataclass(frozen=True, slots=True)
class ReleaseDiff:
    feature: str
    a: str
    b: str
    fields: tuple[FieldChange, ...]
    files: tuple[FileChange, ...]

    @property
    def identical(self) -> bool:
        return not self.fields and not self.files

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (pass it to json.dumps), the document `release diff --json` prints."""
        return {
            "feature": self.feature,
            "a": self.a,
            "b": self.b,
            "identical": self.identical,
            "fields": [f.to_json() for f in self.fields],
            "files": [f.to_json() for f in self.files],
        }

    def render(self) -> str:
        """Plain text: a header, one line per changed field, then the unified prompt diffs."""
        lines = [f"{self.a} → {self.b}"]
        if self.identical:
            lines.append("no changes")
        lines.extend(f.render() for f in self.fields)
        text = "\n".join(lines) + "\n"
        for change in self.files:
            text += change.diff
        return text

    def unified(self) -> str:
        """Only the prompt-text diffs, for syntax highlighting."""
        return "".join(change.diff for change in self.files)


def diff_releases(a: Release, b: Release) -> ReleaseDiff:
    """Compare two releases (usually of one feature, but any two work)."""
    spec_a, spec_b = a.spec.to_json(), b.spec.to_json()
    tools_a = {t["function"]["name"]: t for t in spec_a.pop("tools", [])}
    tools_b = {t["function"]["name"]: t for t in spec_b.pop("tools", [])}
    fields = _compare(_flatten(spec_a), _flatten(spec_b))
    for name in _ordered_union(tools_b, tools_a):
        key = f"tools[{name}]"
        if name not in tools_a:
            fields.append(FieldChange(key, "added", after=tools_b[name]))
        elif name not in tools_b:
            fields.append(FieldChange(key, "removed", before=tools_a[name]))
        else:
            fields.extend(_compare(_flatten(tools_a[name], key), _flatten(tools_b[name], key)))
    if a.feature != b.feature:
        fields.insert(0, FieldChange("feature", "changed", a.feature, b.feature))
    files = [
        change
        for path in _ordered_union(dict(b.files), dict(a.files))
        if (change := _file_change(a, b, path)) is not None
    ]
    return ReleaseDiff(a.feature, a.id, b.id, tuple(fields), tuple(files))


def _compare(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    out = []
    for path in _ordered_union(after, before):
        old, new = before.get(path, _MISSING), after.get(path, _MISSING)
        if old is _MISSING:
            out.append(FieldChange(path, "added", after=new))
        elif new is _MISSING:
            out.append(FieldChange(path, "removed", before=old))
        elif old != new or type(old) is not type(new):
            out.append(FieldChange(path, "changed", before=old, after=new))
    return out


def _file_change(a: Release, b: Release, path: str) -> FileChange | None:
    old, new = a.files.get(path), b.files.get(path)
    if old == new:
        return None
    status: FileStatus = "added" if old is None else "removed" if new is None else "modified"
    diff = difflib.unified_diff(
        _lines(old or ""),
        _lines(new or ""),
        fromfile=f"{a.id}/{path}" if old is not None else "/dev/null",
        tofile=f"{b.id}/{path}" if new is not None else "/dev/null",
    )
    return FileChange(path, status, "".join(diff))


def _lines(text: str) -> list[str]:
    """Lines with endings, the last one terminated so diffs never glue two lines together."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Dotted leaf paths → values; lists of objects indexed, lists of scalars kept whole."""
    if isinstance(value, dict | list) and not value:
        return {}  # an empty section means the same as an absent one
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flatten(child, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        out = {}
        for i, child in enumerate(value):
            out.update(_flatten(child, f"{path}[{i}]"))
        return out
    return {path: value}


def _ordered_union(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


__all__ = ["FieldChange", "FileChange", "ReleaseDiff", "diff_releases"]
