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

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
)
from rampway.flags import _writes
from rampway.flags._compile import FlagSet
from rampway.flags._files import load_flag_files
from rampway.flags._parse import split_document
from rampway.flags._writes import (
    KINDS,
    DefinitionRecord,
    Kind,
    audit_view,
    check_version,
    compile_state,
    plain_json,
    primary_provider,
    read_state,
    validate,
)
from rampway.flags.native import is_release_id, native_name
from rampway.flags.routable import located_values
from rampway.flags.tables import flag_definitions, segment_definitions
from rampway.release._routable import Routing
from rampway.store import Store
from rampway.store.schema import channels, releases

if TYPE_CHECKING:
    from rampway.config import Project, ProjectSource

_TABLES = {"flag": flag_definitions, "segment": segment_definitions}


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
            state = read_state(_SqlTx(self.store, conn))
        compiled = compile_state(state)
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
        spec, changed = _writes.prepare_put(kind, key, definition, reason)
        with self.store.transaction() as conn:

            def guard(state: Mapping[Kind, Mapping[str, Any]]) -> Sequence[dict[str, Any]]:
                self._guard_pins(conn, state, changed)
                return self._guard_models(conn, state, changed, reason if skip_gate else None)

            return _writes.put(_SqlTx(self.store, conn), kind, key, spec, changed, actor=actor,
                               reason=reason, expected_version=expected_version,
                               routing=lambda: self.routing, guard=guard)

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
            tx = _SqlTx(self.store, conn)
            current = tx.get(kind, key)
            if current is None:
                raise RefError(f"no {kind} '{key}'")
            check_version(kind, key, current, expected_version)
            state = read_state(tx)
            del state[kind][key]
            validate(tx, state)
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
        tx = _SqlTx(self.store, conn)
        stored = {(k, r.key): r for k in KINDS for r in tx.all(k)}
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
        state = read_state(tx)
        gone = [r for ident, r in stored.items() if r.source == "file" and ident not in files.items]
        for rec in gone:
            del state[rec.kind][rec.key]
        for (kind, key), (spec, _file) in files.items.items():
            state[kind][key] = spec
        pushed = {key for kind, key in files.items if kind == "flag"}
        validate(tx, state, self.routing, pushed)
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
            _writes.write(tx, kind, key, spec, rec, actor, reason, "file", file)
            (report.created if rec is None else report.updated).append(name)
        _writes.audit_skips(tx, skipped, actor, reason)

    def _guard_pins(self, conn: Connection, state: Mapping[Kind, Mapping[str, Any]],
                    changed: Collection[str]) -> None:
        """Each release a written `.release` flag pins must be one production could be moved
        to (ProtectedFlag naming flag, rule and value); unchanged flags are not re-judged."""
        if self.project is None or not changed:
            return
        from rampway.release.protect import guard_pin

        for flag in compile_state(state).flags.values():
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
        for flag in compile_state(state).flags.values():
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

    def _remove(self, conn: Connection, rec: DefinitionRecord, actor: str, reason: str) -> None:
        table = _table(rec.kind)
        conn.execute(table.delete().where(table.c.key == rec.key))
        self.store.record_audit(
            actor=actor,
            action=f"{rec.kind}.delete",
            object_type=rec.kind,
            object_id=rec.key,
            before=audit_view(rec),
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


class _SqlLookups:
    """`rampway.flags._writes.Lookups` through SQLAlchemy, inside `conn`'s transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def release_known(self, release_id: str) -> bool:
        query = sa.select(releases.c.id).where(releases.c.release_id == release_id)
        return self.conn.scalar(query) is not None

    def channel_known(self, feature: str, name: str) -> bool:
        query = sa.select(channels.c.version).where(channels.c.feature == feature,
                                                     channels.c.name == name)
        return self.conn.scalar(query) is not None

    def pinned_canonical(self, feature: str, value: str) -> str | None:
        if is_release_id(value):
            query = sa.select(releases.c.canonical).where(releases.c.release_id == value)
        else:
            query = sa.select(releases.c.canonical).join(
                channels, channels.c.release_id == releases.c.release_id
            ).where(channels.c.feature == feature, channels.c.name == value)
        found = self.conn.scalar(query)
        return None if found is None else str(found)

    def channel_canonicals(self) -> Iterable[tuple[str, str]]:
        rows = self.conn.execute(sa.select(channels.c.feature, releases.c.canonical).join(
            releases, releases.c.release_id == channels.c.release_id))
        return [(str(feature), str(canonical)) for feature, canonical in rows]


class _SqlTx(_SqlLookups):
    """`rampway.flags._writes.Transaction` through SQLAlchemy and the `Store`."""

    def __init__(self, store: Store, conn: Connection) -> None:
        super().__init__(conn)
        self.store = store

    def bump_control_version(self) -> int:
        return self.store.bump_control_version(self.conn)

    def get(self, kind: Kind, key: str) -> DefinitionRecord | None:
        table = _table(kind)
        row = self.conn.execute(sa.select(table).where(table.c.key == key)).first()
        return None if row is None else _record(kind, row)

    def all(self, kind: Kind) -> list[DefinitionRecord]:
        table = _table(kind)
        rows = self.conn.execute(sa.select(table).order_by(table.c.key))
        return [_record(kind, row) for row in rows]

    def write(self, record: DefinitionRecord, *, insert: bool) -> None:
        table = _table(record.kind)
        values = {"definition": record.definition, "version": record.version,
                  "source": record.source, "file": record.file,
                  "updated_at": record.updated_at, "updated_by": record.updated_by}
        if insert:
            self.conn.execute(table.insert().values(key=record.key, **values))
        else:
            self.conn.execute(table.update().where(table.c.key == record.key).values(**values))

    def audit(self, *, actor: str, action: str, object_type: str, object_id: str,
              before: Any, after: Any, reason: str) -> None:
        self.store.record_audit(actor=actor, action=action, object_type=object_type,
                                object_id=object_id, before=before, after=after,
                                reason=reason, conn=self.conn)


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


def release_providers(conn: Connection) -> dict[str, set[str]]:
    """feature → the primary providers of the releases its channels point at now (what a
    `.model` flag value without a provider is served with)."""
    return _writes.release_providers(_SqlLookups(conn))


def _adopt(conn: Connection, rec: DefinitionRecord, file: str) -> None:
    """An API-written definition the file now agrees with becomes file-owned (same version)."""
    if rec.source == "file" and rec.file == file:
        return
    table = _table(rec.kind)
    conn.execute(table.update().where(table.c.key == rec.key).values(source="file", file=file))


__all__ = [
    "KINDS",
    "DefinitionRecord",
    "FileDefinitions",
    "FlagStore",
    "Kind",
    "PushReport",
    "discover_flag_files",
    "plain_json",
    "primary_provider",
    "read_flag_files",
    "release_providers",
]
