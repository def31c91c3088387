"""`rampway flags set` on the embedded SQLite store without importing SQLAlchemy (issue #17).

A CLI flag write spent about half its start-up importing SQLAlchemy (~0.2 s of CPU on the
project's machine) to run a handful of statements. On a SQLite file that is already at the
shipped migration heads this module runs the *same* write, `rampway.flags._writes.put` — the
checks, the version bump, the audit row and the control-version bump that `FlagStore.put`
runs — through the standard library's `sqlite3`, opened the way the store's engine opens it
(`rampway._sqlite`: busy timeout, foreign keys, WAL, `BEGIN IMMEDIATE`):

    record = put_if_plain(db_path, "flag", "ops.kill", {"type": "bool", "default": False},
                          actor="ana", reason="incident 42", expected_version=None,
                          routing=lambda: None)
    if record is None:  # not this road: FlagStore.put decides
        ...

It declines (returns None before writing anything) for everything it could not do exactly as
the main road does, which then takes the write: a `.release` or `.model` flag (the gate
interlocks of `rampway.release.protect` live on the SQLAlchemy road), a database file that
does not exist yet or is not at head (the main road creates and migrates it), and any URL
other than a plain SQLite file (`sqlite_path`). `tests/flags/test_flags_sqlite_put.py` writes
the same changes both ways and compares every row.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rampway._dblocation import ENV_VAR, default_db_file
from rampway._heads import declared_heads
from rampway._reason import check_actor
from rampway._sqlite import SQLITE_BUSY_TIMEOUT_S, configure, first_line
from rampway.errors import ConflictError, StoreError
from rampway.flags import _writes
from rampway.flags._writes import DefinitionRecord, Kind
from rampway.flags.native import is_release_id

if TYPE_CHECKING:
    from rampway.release._routable import Routing

_TABLES = {"flag": "flag_definitions", "segment": "segment_definitions"}
_COLUMNS = "key, definition, version, source, file, updated_at, updated_by"
# A URL this module reads without SQLAlchemy: `sqlite:///` and a path of ordinary characters.
_PLAIN_SQLITE = re.compile(r"sqlite:///(?P<path>[A-Za-z0-9._/-]+)")


def sqlite_path(root: Path, configured: str | None) -> Path | None:
    """The SQLite file `rampway.store.resolve_url` would pick for a project, when that is a
    plain file URL (or the default); None for anything else (PostgreSQL, query parameters,
    `:memory:`, escapes), which the main road parses."""
    env = os.environ.get(ENV_VAR, "").strip()
    url = env or (configured.strip() if configured else "")
    if not url:
        return default_db_file(root)
    matched = _PLAIN_SQLITE.fullmatch(url)
    if matched is None or matched["path"] == ":memory:":
        return None
    path = Path(matched["path"])
    if path.is_absolute() or env:  # $RAMPWAY_DB is taken as given (relative to the cwd)
        return path
    return (root / path).resolve()


def put_if_plain(path: Path, kind: Kind, key: str, definition: Any, *, actor: str, reason: str,
                 expected_version: int | None, routing: Callable[[], Routing | None],
                 ) -> DefinitionRecord | None:
    """`FlagStore.put` of a definition no gate interlock judges, on a SQLite file at head; None
    (nothing done) when this road does not apply. Raises what `FlagStore.put` raises."""
    spec, changed = _writes.prepare_put(kind, key, definition, reason)
    if _writes.needs_gate(kind, key) or not path.is_file():
        return None
    with _transaction(path) as cursor:
        if not _at_head(cursor):
            return None  # rolled back, nothing written: the main road migrates first
        return _writes.put(_SqliteTx(cursor), kind, key, spec, changed, actor=actor,
                           reason=reason, expected_version=expected_version, routing=routing,
                           guard=_no_gate)


def _no_gate(_state: object) -> list[dict[str, Any]]:
    """The guard of a write `needs_gate` let onto this road: nothing there to judge."""
    return []


@contextmanager
def _transaction(path: Path) -> Iterator[sqlite3.Cursor]:
    """One write transaction, committed on success, rolled back otherwise; driver errors as
    the store's engine reports them (`rampway.store._engine.translate_errors`)."""
    try:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)
    except sqlite3.Error as error:
        raise StoreError(f"database error: {first_line(error)}") from error
    try:
        with _translated():
            configure(connection)
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
        try:
            with _translated():
                yield cursor
        except BaseException:
            connection.rollback()
            raise
        with _translated():
            connection.commit()
    finally:
        connection.close()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as error:
        if "UNIQUE" in str(error):
            raise ConflictError(f"concurrent write conflict: {first_line(error)}") from error
        raise StoreError(f"database error: {first_line(error)}") from error
    except sqlite3.Error as error:
        raise StoreError(f"database error: {first_line(error)}") from error


def _at_head(cursor: sqlite3.Cursor) -> bool:
    declared = declared_heads()
    try:
        rows = cursor.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError:
        return False
    return declared is not None and tuple(sorted(str(r[0]) for r in rows)) == declared


def _timestamp(value: datetime) -> str:
    """How SQLAlchemy's SQLite dialect stores a `UTCDateTime` (naive UTC, microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str:
    """How SQLAlchemy's SQLite JSON type stores a value (`json.dumps`; None is JSON null)."""
    return json.dumps(value)


class _SqliteTx:
    """`rampway.flags._writes.Transaction` in plain SQL on one `sqlite3` cursor."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor

    def _one(self, sql: str, *args: Any) -> Any:
        row = self.cursor.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def release_known(self, release_id: str) -> bool:
        return self._one("SELECT id FROM releases WHERE release_id = ?", release_id) is not None

    def channel_known(self, feature: str, name: str) -> bool:
        return self._one("SELECT version FROM channels WHERE feature = ? AND name = ?",
                         feature, name) is not None

    def pinned_canonical(self, feature: str, value: str) -> str | None:
        if is_release_id(value):
            found = self._one("SELECT canonical FROM releases WHERE release_id = ?", value)
        else:
            found = self._one("SELECT releases.canonical FROM releases JOIN channels ON "
                              "channels.release_id = releases.release_id "
                              "WHERE channels.feature = ? AND channels.name = ?", feature, value)
        return None if found is None else str(found)

    def channel_canonicals(self) -> Iterable[tuple[str, str]]:
        rows = self.cursor.execute("SELECT channels.feature, releases.canonical FROM channels "
                                   "JOIN releases ON releases.release_id = channels.release_id")
        return [(str(feature), str(canonical)) for feature, canonical in rows]

    def bump_control_version(self) -> int:
        value = self._one("UPDATE control_state SET version = version + 1 WHERE id = 1 "
                          "RETURNING version")
        if value is None:
            raise StoreError("database error: No row was found when one was required")
        return int(value)

    def get(self, kind: Kind, key: str) -> DefinitionRecord | None:
        rows = self.cursor.execute(
            f"SELECT {_COLUMNS} FROM {_TABLES[kind]} WHERE key = ?", (key,))  # noqa: S608
        row = rows.fetchone()
        return None if row is None else _record(kind, row)

    def all(self, kind: Kind) -> list[DefinitionRecord]:
        rows = self.cursor.execute(f"SELECT {_COLUMNS} FROM {_TABLES[kind]} ORDER BY key")  # noqa: S608
        return [_record(kind, row) for row in rows]

    def write(self, record: DefinitionRecord, *, insert: bool) -> None:
        values = (_json(record.definition), record.version, record.source, record.file,
                  _timestamp(record.updated_at), record.updated_by, record.key)
        table = _TABLES[record.kind]
        if insert:
            sql = (f"INSERT INTO {table} (definition, version, source, file, updated_at, "  # noqa: S608
                   "updated_by, key) VALUES (?, ?, ?, ?, ?, ?, ?)")
        else:
            sql = (f"UPDATE {table} SET definition = ?, version = ?, source = ?, file = ?, "  # noqa: S608
                   "updated_at = ?, updated_by = ? WHERE key = ?")
        self.cursor.execute(sql, values)

    def audit(self, *, actor: str, action: str, object_type: str, object_id: str,
              before: Any, after: Any, reason: str) -> None:
        check_actor(actor)
        self.cursor.execute(
            "INSERT INTO audit_log (at, actor, action, object_type, object_id, before, after, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_timestamp(_writes.now()), actor, action, object_type, object_id, _json(before),
             _json(after), reason))


def _record(kind: Kind, row: tuple[Any, ...]) -> DefinitionRecord:
    key, definition, version, source, file, updated_at, updated_by = row
    return DefinitionRecord(
        kind=kind,
        key=str(key),
        definition=dict(json.loads(definition)),
        version=int(version),
        source="file" if source == "file" else "api",
        file=file,
        updated_at=datetime.fromisoformat(updated_at).replace(tzinfo=UTC),
        updated_by=str(updated_by),
    )


__all__ = ["put_if_plain", "sqlite_path"]
