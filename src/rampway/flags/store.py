"""Flags and segments persisted in the store, versioned, audited, validated as a whole.

    flags = FlagStore(store)
    rec = flags.put("flag", "support-bot.enabled", {"type": "bool", "default": True},
                    actor="ana", reason="add a kill switch")
    flags.put("flag", "support-bot.enabled", {"type": "bool", "default": False},
              actor="ana", reason="incident 42", expected_version=rec.version)
    flags.flagset().evaluate("support-bot.enabled", {})      # what gateways now serve

Every write is one transaction: it reads all definitions, applies the change, compiles the
resulting *whole* set (so deleting a segment a flag still uses, or a rule with a bad regex, is
refused and the previous definitions keep serving), checks the gateway-native flags
(`rampway.flags.native`: types, release ids and channels that exist), writes the row with
`version + 1`, one audit row per changed object and bumps the control version, so running
gateways reload within a second. The control-version row is locked first: flag writes are
serialised across processes, so two concurrent writes can't each pass validation against a
state the other one is changing.

Precedence between repo files and the API — the store is what gateways serve:
- `rampway flags push` (`FlagStore.push`) makes the store match `flags/*.yaml`: it creates and
  updates the definitions the files hold (`source: file`) and deletes file-sourced definitions
  no file holds any more.
- A definition written through the API gets `source: api`. A push never silently overwrites
  it: if the file says something else, the push is refused with a conflict naming it (copy the
  change into the file, or push with `force=True`). An incident-time kill switch therefore
  survives the next CI push. Definitions created through the API that no file mentions are
  left alone.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from rampway._reason import require_reason
from rampway._yaml import load_located
from rampway.config import project_source
from rampway.errors import (
    ChannelProtected,
    ConfigError,
    ConflictError,
    FlagError,
    ProtectedFlag,
    RefError,
    UnroutableFlag,
)
from rampway.flags._compile import FlagSet
from rampway.flags._files import load_flag_files
from rampway.flags._model import Flag
from rampway.flags._parse import check_key, split_document
from rampway.flags.native import check_native, is_release_id, native_name, possible_values
from rampway.flags.routable import check_model_flags, located_values
from rampway.flags.tables import flag_definitions, segment_definitions
from rampway.release._routable import Routing
from rampway.store import Store
from rampway.store.schema import channels, releases

if TYPE_CHECKING:
    from rampway.config import Project, ProjectSource

Kind = Literal["flag", "segment"]
Source = Literal["api", "file"]
KINDS: tuple[Kind, ...] = ("flag", "segment")
_TABLES = {"flag": flag_definitions, "segment": segment_definitions}
_DOC_KEYS = {"flag": "flags", "segment": "segments"}


@dataclass(frozen=True)
class DefinitionRecord:
    """One stored flag or segment definition (the shape of a `flags/*.yaml` entry)."""

    kind: Kind
    key: str
    definition: dict[str, Any]
    version: int
    source: Source
    file: str | None
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "definition": self.definition,
            "version": self.version,
            "source": self.source,
            "file": self.file,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


@dataclass
class PushReport:
    """What a push changed (or, with dry_run, would change), as `kind:key` strings."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)  # API edits replaced (force=True)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "overwritten": self.overwritten,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class FileDefinitions:
    """Definitions read from flag files: `(kind, key) -> (definition, file)`."""

    items: Mapping[tuple[Kind, str], tuple[dict[str, Any], str]]


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry-run push back."""


def _now() -> datetime:
    return datetime.now(UTC)


def plain_json(definition: Any, what: str) -> dict[str, Any]:
    """The definition as a JSON object (what the store keeps); FlagError if it is not one."""
    if not isinstance(definition, Mapping):
        raise FlagError(f"{what}: a definition must be a JSON object")
    try:
        out: dict[str, Any] = json.loads(json.dumps(definition, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise FlagError(f"{what}: definition is not plain JSON: {exc}") from exc
    return out


def read_flag_files(paths: Iterable[str | PathLike[str]]) -> FileDefinitions:
    """Validate flag files together (FlagError with file:line) and return their definitions."""
    files = [str(p) for p in paths]
    load_flag_files(files)  # the full check, with file:line in every error
    items: dict[tuple[Kind, str], tuple[dict[str, Any], str]] = {}
    for file in files:
        doc = load_located(Path(file).read_text(encoding="utf-8"), file, error=FlagError)
        flag_specs, segment_specs = split_document(doc.data)
        by_kind: tuple[tuple[Kind, Mapping[str, Any]], ...] = (
            ("flag", flag_specs),
            ("segment", segment_specs),
        )
        for kind, specs in by_kind:
            for key, spec in specs.items():
                items[(kind, str(key))] = (plain_json(spec, f"{file}: {kind} {key}"), file)
    return FileDefinitions(items)


def discover_flag_files(root: Path) -> list[Path]:
    """`flags/*.yaml` and `flags/*.yml` under a project root, sorted (none: empty list)."""
    directory = root / "flags"
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


class FlagStore:
    """Flag and segment definitions in a `Store` (see the module docstring for the rules)."""

    def __init__(self, store: Store, routing: Routing | None = None, *,
                 project: Project | ProjectSource | None = None) -> None:
        self.store = store
        # With a routing (the project's providers and catalog), `.model` flag values must be
        # models the gateway can route (`rampway.flags.routable`); without one (no project at
        # hand, e.g. a bare gateway) only their form is checked. With the project, a
        # `.release` flag may pin only what production could be moved to, and a `.model` flag
        # serve only a model production could be moved to (`rampway.release.protect`:
        # `guard_pin`, `guard_model` — a gate PASS / approval). `project` may be a source
        # (the gateway's: rampway.yaml as last reloaded), read at every write.
        self._project = project_source(project)
        self._routing = routing
        self._derived: tuple[object, Routing] | None = None  # (config it was built from, …)
        self._cache: tuple[tuple[tuple[str, str, int], ...], FlagSet] | None = None

    @property
    def project(self) -> Project | None:
        return self._project()

    @property
    def routing(self) -> Routing | None:
        """The explicit routing, else the current project's (rebuilt when its config is
        replaced), else None."""
        if self._routing is not None:
            return self._routing
        project = self.project
        if project is None:
            return None
        if self._derived is None or self._derived[0] is not project.config:
            self._derived = (project.config, Routing.of(project))
        return self._derived[1]

    # -- reads ------------------------------------------------------------------------------

    def list(self, kind: Kind) -> list[DefinitionRecord]:
        table = _table(kind)
        with self.store.reading() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.key)).all()
        return [_record(kind, row) for row in rows]

    def get(self, kind: Kind, key: str) -> DefinitionRecord | None:
        table = _table(kind)
        with self.store.reading() as conn:
            row = conn.execute(sa.select(table).where(table.c.key == key)).first()
        return None if row is None else _record(kind, row)

    def flagset(self) -> FlagSet:
        """All stored definitions compiled; recompiled only when a version changed."""
        with self.store.reading() as conn:
            stamp = tuple(
                (kind, str(key), int(version))
                for kind in KINDS
                for key, version in conn.execute(
                    sa.select(_table(kind).c.key, _table(kind).c.version)
                )
            )
            cached = self._cache
            if cached is not None and cached[0] == stamp:
                return cached[1]
            state = _read_state(conn)
        compiled = _compile(state)
        self._cache = (stamp, compiled)
        return compiled

    # -- writes -----------------------------------------------------------------------------

    def put(
        self,
        kind: Kind,
        key: str,
        definition: Any,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
        skip_gate: bool = False,
    ) -> DefinitionRecord:
        """Create or replace one definition; `expected_version` 0 means "must not exist yet".

        Raises FlagError (nothing written) if the resulting set doesn't compile, ConflictError
        if the stored version is not `expected_version`. `skip_gate` lets a `.model` flag
        serve a model whose swap has no gate PASS (`rampway.release.protect.guard_model`),
        audited as `flag.skip_gate` with `reason`; it never lets a `.release` pin through.
        """
        check_key(kind, key, f"{_DOC_KEYS[kind]}.{key}")
        require_reason(reason, f"writing {kind} '{key}'")
        spec = plain_json(definition, f"{kind} '{key}'")
        changed = {key} if kind == "flag" else set()
        with self.store.transaction() as conn:
            self.store.bump_control_version(conn)  # first: takes the global row lock
            current = _get(conn, kind, key)
            _check_version(kind, key, current, expected_version)
            state = _read_state(conn)
            state[kind][key] = spec
            routing = self.routing
            _validate(conn, state, routing, changed)
            self._guard_pins(conn, state, changed)
            skipped = self._guard_models(conn, state, changed, reason if skip_gate else None)
            record = self._write(conn, kind, key, spec, current, actor, reason, "api", None)
            self._audit_skips(conn, skipped, actor, reason)
            return record

    def delete(
        self,
        kind: Kind,
        key: str,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> DefinitionRecord:
        """Delete one definition (refused if the rest would not compile); returns what it was."""
        require_reason(reason, f"deleting {kind} '{key}'")
        with self.store.transaction() as conn:
            self.store.bump_control_version(conn)
            current = _get(conn, kind, key)
            if current is None:
                raise RefError(f"no {kind} '{key}'")
            _check_version(kind, key, current, expected_version)
            state = _read_state(conn)
            del state[kind][key]
            _validate(conn, state)
            self._remove(conn, current, actor, reason)
            return current

    def push(
        self,
        files: FileDefinitions,
        *,
        actor: str,
        reason: str,
        force: bool = False,
        dry_run: bool = False,
        skip_gate: bool = False,
    ) -> PushReport:
        """Make the store match the files (see the module docstring), all or nothing.
        `skip_gate` as for `put`, for every changed `.model` flag."""
        require_reason(reason, "pushing flag files")
        report = PushReport(dry_run=dry_run)
        try:
            with self.store.transaction() as conn:
                self.store.bump_control_version(conn)
                self._apply_push(conn, files, report, actor, reason, force, skip_gate)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return report

    def _apply_push(
        self,
        conn: Connection,
        files: FileDefinitions,
        report: PushReport,
        actor: str,
        reason: str,
        force: bool,
        skip_gate: bool = False,
    ) -> None:
        stored = {(k, r.key): r for k in KINDS for r in _all(conn, k)}
        conflicts = sorted(
            f"{kind}:{key}"
            for (kind, key), (spec, _file) in files.items.items()
            if (rec := stored.get((kind, key))) is not None
            and rec.source == "api"
            and rec.definition != spec
        )
        if conflicts and not force:
            raise ConflictError(
                "changed through the API since the last push, and the files say otherwise: "
                f"{', '.join(conflicts)} (copy the change into the file, or push --force)"
            )
        report.overwritten = conflicts
        state = _read_state(conn)
        gone = [r for ident, r in stored.items() if r.source == "file" and ident not in files.items]
        for rec in gone:
            del state[rec.kind][rec.key]
        for (kind, key), (spec, _file) in files.items.items():
            state[kind][key] = spec
        pushed = {key for kind, key in files.items if kind == "flag"}
        _validate(conn, state, self.routing, pushed)
        judged = {  # a pin or model judged when it was written stays judged
            key for (kind, key), (spec, _file) in files.items.items()
            if kind == "flag" and ((rec := stored.get((kind, key))) is None
                                   or rec.definition != spec)}
        self._guard_pins(conn, state, judged)
        skipped = self._guard_models(conn, state, judged, reason if skip_gate else None)
        for rec in gone:
            self._remove(conn, rec, actor, reason)
            report.deleted.append(f"{rec.kind}:{rec.key}")
        for (kind, key), (spec, file) in sorted(files.items.items()):
            rec = stored.get((kind, key))
            name = f"{kind}:{key}"
            if rec is not None and rec.definition == spec:
                _adopt(conn, rec, file)
                report.unchanged.append(name)
                continue
            self._write(conn, kind, key, spec, rec, actor, reason, "file", file)
            (report.created if rec is None else report.updated).append(name)
        self._audit_skips(conn, skipped, actor, reason)

    def _audit_skips(self, conn: Connection, skipped: Iterable[dict[str, Any]], actor: str,
                     reason: str) -> None:
        """One `flag.skip_gate` row per `.model` value let through without its gate."""
        for allowed in skipped:
            self.store.record_audit(actor=actor, action="flag.skip_gate", object_type="flag",
                                    object_id=allowed["flag"], before=None, after=allowed,
                                    reason=reason, conn=conn)

    def _guard_pins(self, conn: Connection, state: Mapping[Kind, Mapping[str, Any]],
                    changed: Collection[str]) -> None:
        """Each release a written `.release` flag pins must be one production could be moved
        to (ProtectedFlag naming flag, rule and value); unchanged flags are not re-judged."""
        if self.project is None or not changed:
            return
        from rampway.release.protect import guard_pin

        for flag in _compile(state).flags.values():
            named = native_name(flag.key)
            if flag.key not in changed or named is None or named[1] != "release":
                continue
            for rule, path, value in located_values(flag):
                release_id = _pinned_id(conn, named[0], value)
                if release_id is None:
                    continue
                try:
                    guard_pin(conn, self.store, self.project, named[0], release_id)
                except ChannelProtected as exc:
                    shown = repr(value) if value == release_id else f"{value!r} ({release_id})"
                    raise ProtectedFlag(f"value {shown} would be served in place of "
                                        f"production: {exc.message}", flag=flag.key,
                                        rule=rule, path=path) from exc

    def _guard_models(self, conn: Connection, state: Mapping[Kind, Mapping[str, Any]],
                      changed: Collection[str], skip_reason: str | None
                      ) -> Sequence[dict[str, Any]]:
        """Each model a written `.model` flag can serve must be one production could be moved
        to with that model (ProtectedFlag naming flag, rule and value), unless `skip_reason`;
        returns what each skipped value was allowed on, for the `flag.skip_gate` audit rows."""
        if self.project is None or not changed:
            return []
        from rampway.release.protect import guard_model

        project, skipped = self.project, []
        for flag in _compile(state).flags.values():
            named = native_name(flag.key)
            if flag.key not in changed or named is None or named[1] != "model":
                continue
            for rule, path, value in located_values(flag):
                if not isinstance(value, str):
                    continue
                try:
                    allowed = guard_model(conn, self.store, project, named[0], value,
                                          skip_reason)
                except ConfigError as exc:  # ChannelProtected, or a swap that is no release
                    raise ProtectedFlag(f"value {value!r} would serve production with another "
                                        f"model: {exc.message}", flag=flag.key, rule=rule,
                                        path=path) from exc
                if allowed is not None and allowed.get("skipped"):
                    skipped.append({"flag": flag.key, "value": value, "rule": rule,
                                    "path": path, **allowed})
        return skipped

    def _write(
        self,
        conn: Connection,
        kind: Kind,
        key: str,
        spec: dict[str, Any],
        current: DefinitionRecord | None,
        actor: str,
        reason: str,
        source: Source,
        file: str | None,
    ) -> DefinitionRecord:
        table = _table(kind)
        version = 1 if current is None else current.version + 1
        now = _now()
        values = {
            "definition": spec,
            "version": version,
            "source": source,
            "file": file,
            "updated_at": now,
            "updated_by": actor,
        }
        if current is None:
            conn.execute(table.insert().values(key=key, **values))
        else:
            conn.execute(table.update().where(table.c.key == key).values(**values))
        record = DefinitionRecord(kind, key, spec, version, source, file, now, actor)
        self.store.record_audit(
            actor=actor,
            action=f"{kind}.{'create' if current is None else 'update'}",
            object_type=kind,
            object_id=key,
            before=None if current is None else _audit_view(current),
            after=_audit_view(record),
            reason=reason,
            conn=conn,
        )
        return record

    def _remove(self, conn: Connection, rec: DefinitionRecord, actor: str, reason: str) -> None:
        table = _table(rec.kind)
        conn.execute(table.delete().where(table.c.key == rec.key))
        self.store.record_audit(
            actor=actor,
            action=f"{rec.kind}.delete",
            object_type=rec.kind,
            object_id=rec.key,
            before=_audit_view(rec),
            after=None,
            reason=reason,
            conn=conn,
        )


# -- helpers --------------------------------------------------------------------------------------


def _table(kind: Kind) -> sa.Table:
    if kind not in _TABLES:
        raise ConfigError(f"unknown definition kind {kind!r} (flag or segment)")
    return _TABLES[kind]


def _record(kind: Kind, row: Row[Any]) -> DefinitionRecord:
    return DefinitionRecord(
        kind=kind,
        key=str(row.key),
        definition=dict(row.definition),
        version=int(row.version),
        source="file" if row.source == "file" else "api",
        file=row.file,
        updated_at=row.updated_at,
        updated_by=str(row.updated_by),
    )


def _get(conn: Connection, kind: Kind, key: str) -> DefinitionRecord | None:
    table = _table(kind)
    row = conn.execute(sa.select(table).where(table.c.key == key)).first()
    return None if row is None else _record(kind, row)


def _all(conn: Connection, kind: Kind) -> list[DefinitionRecord]:
    table = _table(kind)
    return [_record(kind, row) for row in conn.execute(sa.select(table).order_by(table.c.key))]


def _read_state(conn: Connection) -> dict[Kind, dict[str, dict[str, Any]]]:
    return {kind: {r.key: r.definition for r in _all(conn, kind)} for kind in KINDS}


def _check_version(
    kind: Kind, key: str, current: DefinitionRecord | None, expected: int | None
) -> None:
    if expected is None:
        return
    actual = 0 if current is None else current.version
    if actual != expected:
        raise ConflictError(
            f"{kind} '{key}' is at version {actual}, not {expected}: "
            "someone changed it since you read it"
        )


def _compile(state: Mapping[Kind, Mapping[str, Any]]) -> FlagSet:
    return FlagSet.from_dict({"flags": dict(state["flag"]), "segments": dict(state["segment"])})


def _validate(
    conn: Connection,
    state: Mapping[Kind, Mapping[str, Any]],
    routing: Routing | None = None,
    changed: Collection[str] = (),
) -> FlagSet:
    """Compile the whole set and check native flags against the store; raises FlagError.

    Routability is checked for the flags this write changes only: a flag that became
    unroutable since (a catalog edit) is `rampway doctor`'s to report, and must not block
    unrelated writes — least of all an incident-time kill switch.
    """
    compiled = _compile(state)
    for flag in compiled.flags.values():
        check_native(flag)
        named = native_name(flag.key)
        if named is not None and named[1] == "release":
            _check_release_values(conn, named[0], flag.key, possible_values(flag))
    if routing is not None and changed:
        written = [f for f in compiled.flags.values() if f.key in changed]
        check_model_flags(written, routing, release_providers(conn))
        _check_pinned_routable(conn, written, routing)
    return compiled


def _check_pinned_routable(conn: Connection, flags: Iterable[Flag], routing: Routing) -> None:
    """A `.release` flag may only pin releases whose models the gateway can route."""
    for flag in flags:
        named = native_name(flag.key)
        if named is None or named[1] != "release":
            continue
        for rule, path, value in located_values(flag):
            canonical = _pinned_canonical(conn, named[0], value)
            if canonical is None:
                continue
            from rampway.release import Release  # only here: Jinja and the release schema

            for provider, model in Release.from_canonical(canonical).models:
                problem = routing.problem(provider, model)
                if problem is not None:
                    raise UnroutableFlag(f"value {value!r} serves {provider}/{model}: {problem}",
                                         flag=flag.key, rule=rule, path=path)


def _pinned_id(conn: Connection, feature: str, value: Any) -> str | None:
    """The release id a `.release` value selects now (an id, or a channel's), if any."""
    if not isinstance(value, str):
        return None
    if is_release_id(value):
        found = conn.scalar(sa.select(releases.c.release_id).where(releases.c.release_id == value))
    else:
        found = conn.scalar(sa.select(channels.c.release_id).where(
            channels.c.feature == feature, channels.c.name == value))
    return None if found is None else str(found)


def _pinned_canonical(conn: Connection, feature: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if is_release_id(value):
        query = sa.select(releases.c.canonical).where(releases.c.release_id == value)
    else:
        query = sa.select(releases.c.canonical).join(
            channels, channels.c.release_id == releases.c.release_id
        ).where(channels.c.feature == feature, channels.c.name == value)
    found = conn.scalar(query)
    return None if found is None else str(found)


def release_providers(conn: Connection) -> dict[str, set[str]]:
    """feature → the primary providers of the releases its channels point at now (what a
    `.model` flag value without a provider is served with)."""
    rows = conn.execute(
        sa.select(channels.c.feature, releases.c.canonical).join(
            releases, releases.c.release_id == channels.c.release_id
        )
    )
    out: dict[str, set[str]] = {}
    for feature, canonical in rows:
        out.setdefault(str(feature), set()).add(primary_provider(canonical))
    return out


def primary_provider(canonical: str) -> str:
    """The primary provider of a stored release, read from its canonical JSON.

    Every flag write asks this of each channel's release; rebuilding the release for one field
    (`Release.from_canonical`) would import Jinja and the pydantic release schema and re-check
    every template, a third of a light command's time. The text was validated when it was
    published; any shape but the one `canonical_text` writes is rebuilt in full, so a broken
    row is still reported as it was:

        primary_provider('{"format":1,"feature":"f","spec":{"provider":"sim",…},…}') == "sim"
    """
    try:
        payload = json.loads(canonical)
        provider = payload["spec"]["provider"] if payload.get("format") == 1 else None
    except (ValueError, TypeError, KeyError, AttributeError):
        provider = None
    if isinstance(provider, str):
        return provider
    from rampway.release import Release

    return Release.from_canonical(canonical).models[0][0]


def _check_release_values(conn: Connection, feature: str, key: str, values: Iterable[Any]) -> None:
    for value in set(values):
        if is_release_id(value):
            found = conn.scalar(sa.select(releases.c.id).where(releases.c.release_id == value))
            what = "release"
        else:
            found = conn.scalar(
                sa.select(channels.c.version).where(
                    channels.c.feature == feature, channels.c.name == value
                )
            )
            what = f"channel of {feature!r}"
        if found is None:
            raise FlagError(
                f"value {value!r}: no such {what} (publish or create it first)", flag=key
            )


def _adopt(conn: Connection, rec: DefinitionRecord, file: str) -> None:
    """An API-written definition the file now agrees with becomes file-owned (same version)."""
    if rec.source == "file" and rec.file == file:
        return
    table = _table(rec.kind)
    conn.execute(table.update().where(table.c.key == rec.key).values(source="file", file=file))


def _audit_view(rec: DefinitionRecord) -> dict[str, Any]:
    return {"definition": rec.definition, "version": rec.version, "source": rec.source}


__all__ = [
    "KINDS",
    "DefinitionRecord",
    "FileDefinitions",
    "FlagStore",
    "Kind",
    "PushReport",
    "discover_flag_files",
    "plain_json",
    "read_flag_files",
    "release_providers",
]
