"""Loading and validating releases from any Source (directory, git revision, canonical text).

Order of checks, each failing with one ReleaseError that names `file:line`:
release.yaml parses → the spec validates → every referenced prompt file exists → each template
parses → every variable a template reads is declared, and every declared variable is read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from rampway._yaml import LocatedYaml, describe_validation_error, load_located
from rampway.errors import ReleaseError
from rampway.release._release import CANONICAL_FORMAT, Release
from rampway.release._sources import DirSource, MappingSource, Source
from rampway.release._spec import INPUT_VARIABLE, NAME_PATTERN, ReleaseSpec
from rampway.release._templates import template_variables

RELEASE_FILE = "release.yaml"
RELEASES_DIR = "releases"


def check_feature_name(feature: str) -> str:
    if not re.match(NAME_PATTERN, feature):
        raise ReleaseError(
            f"invalid feature name {feature!r} (letters, digits, '.', '_', '-'; at most 64)"
        )
    return feature


def load_release(directory: Path, *, feature: str | None = None) -> Release:
    """Load and validate the release in `directory` (feature defaults to the directory name)."""
    name = check_feature_name(feature if feature is not None else directory.resolve().name)
    return load_from_source(name, DirSource(directory))


def discover(project_root: Path) -> dict[str, Path]:
    """feature → release directory, for every `releases/<feature>/release.yaml`, sorted."""
    base = project_root / RELEASES_DIR
    if not base.is_dir():
        return {}
    return {
        d.name: d
        for d in sorted(base.iterdir(), key=lambda p: p.name)
        if d.is_dir() and (d / RELEASE_FILE).is_file()
    }


def load_from_source(feature: str, source: Source) -> Release:
    """Parse release.yaml from `source`, validate everything, build the Release."""
    yaml_name = source.display(RELEASE_FILE)
    text = source.read(RELEASE_FILE)
    if text is None:
        raise ReleaseError(f"{RELEASE_FILE} not found", file=yaml_name)
    doc = load_located(text, yaml_name)
    if not isinstance(doc.data, dict):
        raise ReleaseError("release.yaml must be a mapping of keys", file=yaml_name, line=1)
    spec = _validate_spec(doc, yaml_name)
    files = _read_files(spec, source, doc, yaml_name)
    _check_variables(spec, files, source, doc, yaml_name)
    return Release(feature, spec, files)


def release_from_canonical(text: str) -> Release:
    """Inverse of `Release.canonical`, re-validating everything (the text may come from a DB)."""
    label = "<canonical>"
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"canonical text is not JSON: {exc.msg}", file=label) from exc
    if not isinstance(payload, dict) or set(payload) != {"format", "feature", "spec", "files"}:
        raise ReleaseError("canonical text lacks format/feature/spec/files", file=label)
    if payload["format"] != CANONICAL_FORMAT:
        raise ReleaseError(f"unsupported canonical format {payload['format']!r}", file=label)
    feature, spec_data, files = payload["feature"], payload["spec"], payload["files"]
    if not isinstance(feature, str) or not isinstance(files, dict):
        raise ReleaseError("canonical text has a malformed feature or files", file=label)
    check_feature_name(feature)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ReleaseError("canonical files must map paths to text", file=label)
    source = MappingSource(files, f"{label}{feature}")
    doc = LocatedYaml(data=spec_data, lines={})
    spec = _validate_spec(doc, f"{label}{feature}")
    read = _read_files(spec, source, doc, label)
    _check_variables(spec, read, source, doc, label)
    return Release(feature, spec, read)


def _validate_spec(doc: LocatedYaml, yaml_name: str) -> ReleaseSpec:
    try:
        return ReleaseSpec.model_validate(doc.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path, message = describe_validation_error(first, doc.data)
        raise ReleaseError(message, file=yaml_name, line=doc.line_of(path)) from exc


def _read_files(
    spec: ReleaseSpec, source: Source, doc: LocatedYaml, yaml_name: str
) -> dict[str, str]:
    """Text of every file the spec references; a missing one names the key that refers to it."""
    wanted = [("system", spec.messages.system), ("user", spec.messages.user_file)]
    files: dict[str, str] = {}
    for key, relpath in wanted:
        if relpath is None:
            continue
        text = source.read(relpath)
        if text is None:
            raise ReleaseError(
                f"messages.{key}: prompt file not found: {source.display(relpath)}",
                file=yaml_name,
                line=doc.line_of(("messages", key)),
            )
        files[relpath] = text
    return files


def _check_variables(
    spec: ReleaseSpec, files: dict[str, str], source: Source, doc: LocatedYaml, yaml_name: str
) -> None:
    """Every variable a template reads is declared; every declared variable is read somewhere."""
    used: dict[str, tuple[str, int]] = {}
    for display, text, offset in _templates_of(spec, files, source, doc, yaml_name):
        for name, line in template_variables(text, file=display, line_offset=offset).items():
            used.setdefault(name, (display, line))
    for name, (display, line) in used.items():
        if name != INPUT_VARIABLE and name not in spec.variables:
            raise ReleaseError(
                f"template variable '{name}' is not declared under 'variables' in {RELEASE_FILE}",
                file=display,
                line=line,
            )
    for name in spec.variables:
        if name not in used:
            raise ReleaseError(
                f"variables.{name}: declared but not used by any template",
                file=yaml_name,
                line=doc.line_of(("variables", name)),
            )


def _templates_of(
    spec: ReleaseSpec, files: dict[str, str], source: Source, doc: LocatedYaml, yaml_name: str
) -> list[tuple[str, str, int]]:
    """(name for errors, template text, line offset) of each template in the release."""
    msgs = spec.messages
    out: list[tuple[str, str, int]] = []
    if msgs.system is not None:
        out.append((source.display(msgs.system), files[msgs.system], 0))
    if msgs.user is not None:
        user_file = msgs.user_file
        if user_file is None:
            line = doc.line_of(("messages", "user"))
            out.append((yaml_name, msgs.user, (line or 1) - 1))
        else:
            out.append((source.display(user_file), files[user_file], 0))
    return out


__all__ = [
    "RELEASES_DIR",
    "RELEASE_FILE",
    "check_feature_name",
    "discover",
    "load_from_source",
    "load_release",
    "release_from_canonical",
]
