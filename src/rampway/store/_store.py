"""The `Store`: releases, channels, history, audit log and the control-state version.

Every write is one transaction: the row change, its history entry, its audit entry and the
control-version bump commit together or not at all. Channel moves use optimistic concurrency (a
`version` per channel, compare-and-swap UPDATE) and also lock the row they read on PostgreSQL, so
concurrent writers queue instead of spinning; a lost race is retried from a fresh read, which is
why concurrent `set_channel` calls never lose a move. A caller that passes `expected_version`
gets a `ConflictError` instead of a retry when someone else moved the channel first.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import ArgumentError

from rampway._dblocation import DATA_DIR
from rampway._reason import check_actor as _check_actor
from rampway._reason import require_reason
from rampway.errors import ConfigError, ConflictError, RefError, StoreError
from rampway.store import _engine
from rampway.store._migrate import upgrade
from rampway.store._records import AuditEntry, ChannelMove, ChannelState, MoveKind, ReleaseRecord
from rampway.store._rollback import rollback_target
from rampway.store._url import parse_url, sqlite_file
from rampway.store.schema import (
    audit_log,
    channel_history,
    channels,
    control_state,
    features,
    releases,
)

T = TypeVar("T")

MAX_ATTEMPTS = 60
MIN_REF_HEX = 4
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_HEX_RE = re.compile(r"[0-9a-f]+")
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


class _RaceLost(Exception):
    """A compare-and-swap matched no row: someone else wrote first. Retry from a fresh read."""


def _now() -> datetime:
    return datetime.now(UTC)


def _check_name(kind: str, value: str) -> None:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise ConfigError(
            f"invalid {kind} name {value!r}: use letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 200 characters)"
        )


def _database_directory(directory: Path, url: str) -> None:
    """Check (or, for `.rampway/` only, create) the directory of a SQLite database file."""
    if directory.is_dir():
        return
    if directory.name != DATA_DIR or not directory.parent.is_dir():
        raise ConfigError(
            f"database directory {directory} does not exist ({url}): create it first, or "
            f"leave database.url unset to use {DATA_DIR}/rampway.db in the project"
        )
    try:
        directory.mkdir(exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create database directory {directory}: {exc}") from exc


class Store:
    """Durable control state of rampway. Open with `Store.open(url)`; close when done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate to head. A SQLite file is created, in an existing directory.

        The one directory created on demand is rampway's own data directory (`.rampway/`, where
        the default database lives, inside an existing project directory): a URL into any other
        missing directory is far more often a typo than a wish, so it is refused (ConfigError)
        instead of growing a directory tree wherever the typo points.
        """
        parsed = parse_url(url)
        path = sqlite_file(parsed)
        if path is not None:
            _database_directory(path.parent, url)
        try:
            engine = _engine.create_engine(parsed)
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(f"cannot use database URL {url!r}: {exc}") from exc
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Release all pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction for other modules (flags, rollouts) to share with the store.

        Use it so that SQLite takes its write lock up front (see `_engine`), and call
        `record_audit(..., conn=conn)` and `bump_control_version(conn)` inside it — the bump
        last, since it takes the one global row lock.
        """
        return _engine.write_transaction(self.engine)

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for consistent reads (one transaction, never written) for other modules;
        database errors arrive as StoreError, like everything the store raises."""
        return _engine.read_connection(self.engine)

    _read = reading

    def shared_reads(self) -> AbstractContextManager[None]:
        """Inside it, every `reading()` of this context shares one connection and transaction
        (`_engine.shared_reads`): for a caller that reads in many small steps, like a page."""
        return _engine.shared_reads(self.engine)

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction, again from scratch when it lost a race."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.transaction() as conn:
                    return work(conn)
            except (_RaceLost, _engine.TransientConflict):
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise ConflictError(f"gave up after {MAX_ATTEMPTS} attempts: too much concurrent writing")

    # -- releases ----------------------------------------------------------------------------

    def publish(
        self,
        feature: str,
        digest: str,
        release_id: str,
        canonical: str,
        *,
        actor: str,
        reason: str,
    ) -> bool:
        """Store a release; True if new, False if this exact release was already stored.

        Releases are immutable: the same digest with different content (or a different id) is
        a `StoreError`, as is an id that already names another digest (use a longer hash).
        Publishing is audited, so a blank `reason` is `ReasonRequired` (nothing written).
        """
        _check_release_args(feature, digest, release_id)
        _check_actor(actor)
        require_reason(reason, f"publishing {release_id}")
        if not isinstance(canonical, str):
            raise ConfigError("canonical release text must be a string")

        def work(conn: Connection) -> bool:
            existing = conn.execute(
                sa.select(releases).where(
                    releases.c.feature == feature, releases.c.digest == digest
                )
            ).first()
            if existing is not None:
                return _same_release_or_fail(existing, release_id, canonical)
            _fail_if_id_taken(conn, release_id, digest)
            now = _now()
            _insert_ignore(conn, features, {"name": feature, "created_at": now})
            conn.execute(
                releases.insert().values(
                    feature=feature,
                    digest=digest,
                    release_id=release_id,
                    canonical=canonical,
                    created_at=now,
                    created_by=actor,
                )
            )
            after = {"feature": feature, "digest": digest, "release_id": release_id}
            self.record_audit(
                actor=actor,
                action="release.publish",
                object_type="release",
                object_id=release_id,
                before=None,
                after=after,
                reason=reason,
                conn=conn,
            )
            self.bump_control_version(conn)
            return True

        return self._retrying(work)

    def get_release(self, feature: str, ref: str) -> ReleaseRecord:
        """Find a release by full id, id prefix (`bot@3f2a`), bare hex prefix or full digest."""
        with self._read() as conn:
            return _resolve(conn, feature, ref)

    def list_releases(self, feature: str) -> list[ReleaseRecord]:
        """All releases of a feature, newest first."""
        query = (
            sa.select(releases)
            .where(releases.c.feature == feature)
            .order_by(releases.c.created_at.desc(), releases.c.id.desc())
        )
        with self._read() as conn:
            return [_release(row) for row in conn.execute(query)]

    def list_features(self) -> list[str]:
        """Names of all features that have at least one published release, sorted."""
        with self._read() as conn:
            return list(conn.scalars(sa.select(features.c.name).order_by(features.c.name)))

    # -- channels ----------------------------------------------------------------------------

    def get_channel(self, feature: str, channel: str) -> ChannelState | None:
        """Where `channel` of `feature` points now, or None if it was never set."""
        with self._read() as conn:
            row = _channel_row(conn, feature, channel, lock=False)
        return None if row is None else _channel(row)

    def list_channels(self, feature: str | None = None) -> list[ChannelState]:
        """All channels (of one feature, or of all), ordered by feature then channel name."""
        query = sa.select(channels).order_by(channels.c.feature, channels.c.name)
        if feature is not None:
            query = query.where(channels.c.feature == feature)
        with self._read() as conn:
            return [_channel(row) for row in conn.execute(query)]

    def set_channel(
        self,
        feature: str,
        channel: str,
        release_id: str,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
        conn: Connection | None = None,
    ) -> ChannelState:
        """Point `channel` at a release of `feature` (any ref `get_release` accepts).

        `expected_version` is the channel version the caller last saw (0 = "must not exist
        yet"); if the channel has moved since, this raises `ConflictError` and writes nothing.
        With `conn` (from `transaction()`), the move joins that transaction — e.g. a rollout
        completing commits its state change and the channel move together — and a lost race
        raises `ConflictError` instead of being retried.
        """
        _check_name("feature", feature)
        _check_name("channel", channel)
        _check_actor(actor)
        require_reason(reason, f"moving channel {channel} of {feature}")

        def work(conn: Connection) -> ChannelState:
            target = _resolve(conn, feature, release_id)
            row = _channel_row(conn, feature, channel, lock=True)
            current = 0 if row is None else int(row.version)
            _check_expected(feature, channel, expected_version, current)
            return self._move(conn, feature, channel, row, target.release_id, "set", actor, reason)

        if conn is not None:
            try:
                return work(conn)
            except _RaceLost as exc:
                raise ConflictError(f"channel {channel} of {feature} moved concurrently") from exc
        return self._retrying(work)

    def rollback(
        self,
        feature: str,
        channel: str = "production",
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> ChannelState:
        """Move `channel` back to the release it pointed at before the current one.

        History is read as a stack of distinct releases (see `_rollback`): after A → B → C,
        rolling back goes to B, rolling back again goes to A. A `RefError` says when there is
        no earlier release (or no such channel). `expected_version` works as in `set_channel`:
        the version is compared on the locked row inside the writing transaction, so a move
        landing after the caller's read is a `ConflictError` and nothing is written.
        """
        _check_name("feature", feature)
        _check_name("channel", channel)
        _check_actor(actor)
        require_reason(reason, f"rolling back channel {channel} of {feature}")

        def work(conn: Connection) -> ChannelState:
            row = _channel_row(conn, feature, channel, lock=True)
            if row is None:
                raise RefError(f"unknown channel {channel!r} of feature {feature!r}")
            _check_expected(feature, channel, expected_version, int(row.version))
            target = rollback_target(_moves(conn, feature, channel))
            if target is None:
                raise RefError(
                    f"nothing to roll back to: channel {channel} of {feature} has no earlier "
                    f"release than {row.release_id}"
                )
            return self._move(conn, feature, channel, row, target, "rollback", actor, reason)

        return self._retrying(work)

    def channel_history(
        self, feature: str, channel: str | None = None, limit: int = 100
    ) -> list[ChannelMove]:
        """Moves of a feature's channels (or one channel), newest first, at most `limit`."""
        _check_limit(limit)
        query = (
            sa.select(channel_history)
            .where(channel_history.c.feature == feature)
            .order_by(channel_history.c.id.desc())
            .limit(limit)
        )
        if channel is not None:
            query = query.where(channel_history.c.channel == channel)
        with self._read() as conn:
            return [_move_record(row) for row in conn.execute(query)]

    def channel_move(self, feature: str, channel: str, seq: int) -> ChannelMove | None:
        """The move that took `channel` to version `seq` (its `from_release` is what the
        channel served before), or None. Exact even when other moves landed since."""
        query = sa.select(channel_history).where(
            channel_history.c.feature == feature,
            channel_history.c.channel == channel,
            channel_history.c.seq == seq,
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _move_record(row)

    def _move(
        self,
        conn: Connection,
        feature: str,
        channel: str,
        row: Row[Any] | None,
        to_release: str,
        kind: MoveKind,
        actor: str,
        reason: str,
    ) -> ChannelState:
        """Write one move: pointer (compare-and-swap), history, audit, control version."""
        now = _now()
        version = 1 if row is None else int(row.version) + 1
        from_release = None if row is None else str(row.release_id)
        _swap_pointer(conn, feature, channel, row, to_release, now)
        conn.execute(
            channel_history.insert().values(
                feature=feature,
                channel=channel,
                seq=version,
                kind=kind,
                from_release=from_release,
                to_release=to_release,
                actor=actor,
                reason=reason,
                at=now,
            )
        )
        before = None if row is None else {"release_id": from_release, "version": version - 1}
        self.record_audit(
            actor=actor,
            action=f"channel.{kind}",
            object_type="channel",
            object_id=f"{feature}/{channel}",
            before=before,
            after={"release_id": to_release, "version": version},
            reason=reason,
            conn=conn,
        )
        self.bump_control_version(conn)
        return ChannelState(feature, channel, to_release, version, now)

    # -- audit and control state -------------------------------------------------------------

    def record_audit(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        before: Any,
        after: Any,
        reason: str,
        conn: Connection | None = None,
    ) -> None:
        """Append one audit entry, inside `conn`'s transaction when given (else its own)."""
        _check_actor(actor)
        values = {
            "at": _now(),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": before,
            "after": after,
            "reason": reason,
        }
        with _within(self, conn) as active:
            active.execute(audit_log.insert().values(**values))

    def list_audit(
        self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Audit entries, newest first, optionally for one object type and/or id."""
        _check_limit(limit)
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if object_type is not None:
            query = query.where(audit_log.c.object_type == object_type)
        if object_id is not None:
            query = query.where(audit_log.c.object_id == object_id)
        with self._read() as conn:
            return [_audit(row) for row in conn.execute(query)]

    def control_version(self) -> int:
        """The control-state version: one indexed single-row read, cheap enough to poll."""
        with self._read() as conn:
            return int(conn.scalar(sa.select(control_state.c.version)) or 0)

    def bump_control_version(self, conn: Connection) -> int:
        """Increment the control version inside `conn`'s transaction; returns the new value."""
        with _engine.translate_errors():
            value = conn.execute(
                control_state.update()
                .where(control_state.c.id == 1)
                .values(version=control_state.c.version + 1)
                .returning(control_state.c.version)
            ).scalar_one()
        return int(value)


# -- helpers (module-level so the class reads as the API) ------------------------------------


@contextmanager
def _within(store: Store, conn: Connection | None) -> Iterator[Connection]:
    if conn is not None:
        with _engine.translate_errors():
            yield conn
        return
    with store.transaction() as own:
        yield own


def _check_expected(feature: str, channel: str, expected: int | None, current: int) -> None:
    """Optimistic concurrency: refuse (ConflictError) when the channel is not at `expected`."""
    if expected is not None and expected != current:
        raise ConflictError(
            f"channel {channel} of {feature} moved since you read it "
            f"(version {expected}, now {current})"
        )


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be a positive integer, got {limit!r}")


def _check_release_args(feature: str, digest: str, release_id: str) -> None:
    _check_name("feature", feature)
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise ConfigError(f"digest must be 64 lowercase hex characters (sha256), got {digest!r}")
    prefix, _, short = release_id.rpartition("@")
    if prefix != feature or len(short) < MIN_REF_HEX or not digest.startswith(short):
        raise ConfigError(
            f"release id {release_id!r} must read {feature}@<first {MIN_REF_HEX}+ hex of digest>"
        )


def _same_release_or_fail(existing: Row[Any], release_id: str, canonical: str) -> bool:
    if existing.canonical != canonical:
        raise StoreError(
            f"release {existing.release_id} (digest {existing.digest}) is already stored with "
            "different canonical content; releases are immutable"
        )
    if existing.release_id != release_id:
        raise StoreError(
            f"digest {existing.digest} is already stored as {existing.release_id}, "
            f"not {release_id}"
        )
    return False


def _fail_if_id_taken(conn: Connection, release_id: str, digest: str) -> None:
    other = conn.scalar(sa.select(releases.c.digest).where(releases.c.release_id == release_id))
    if other == digest:
        raise _RaceLost  # committed by a concurrent publish since our first read: re-read
    if other is not None:
        raise StoreError(
            f"release id {release_id} already names another release (digest {other}); "
            "use a longer hash in the id"
        )


def _insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either backend (idempotent under races)."""
    # imported here, not at the top: SQLAlchemy's PostgreSQL dialect loads only on PostgreSQL
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        conn.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects import sqlite

        conn.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())


def _resolve(conn: Connection, feature: str, ref: str) -> ReleaseRecord:
    """Turn a release ref into the one release it names, or a `RefError` saying why not."""
    text = ref.strip() if isinstance(ref, str) else ""
    if "@" in text:
        ref_feature, _, hexpart = text.rpartition("@")
        if ref_feature != feature:
            raise RefError(f"release {ref!r} is not a release of feature {feature!r}")
        exact = conn.execute(sa.select(releases).where(releases.c.release_id == text)).first()
        if exact is not None:
            return _release(exact)
    else:
        hexpart = text
    hexpart = hexpart.lower()
    if len(hexpart) < MIN_REF_HEX or len(hexpart) > 64 or not _HEX_RE.fullmatch(hexpart):
        raise RefError(
            f"unknown release {ref!r} of feature {feature!r}: expected an id like "
            f"{feature}@3f2a9c1e, a hex prefix of at least {MIN_REF_HEX} characters, or a digest"
        )
    rows = conn.execute(
        sa.select(releases)
        .where(releases.c.feature == feature, releases.c.digest.startswith(hexpart))
        .order_by(releases.c.release_id)
        .limit(6)
    ).all()
    if not rows:
        raise RefError(f"no release {ref!r} of feature {feature!r}")
    if len(rows) > 1:
        names = ", ".join(str(r.release_id) for r in rows[:5])
        raise RefError(
            f"release ref {ref!r} of feature {feature!r} is ambiguous ({names}"
            f"{', …' if len(rows) > 5 else ''}); give more characters"
        )
    return _release(rows[0])


def _channel_row(conn: Connection, feature: str, channel: str, *, lock: bool) -> Row[Any] | None:
    query = sa.select(channels).where(channels.c.feature == feature, channels.c.name == channel)
    if lock:
        query = query.with_for_update()  # PostgreSQL queues writers; SQLite ignores it
    return conn.execute(query).first()


def _swap_pointer(
    conn: Connection,
    feature: str,
    channel: str,
    row: Row[Any] | None,
    to_release: str,
    now: datetime,
) -> None:
    """Insert the channel, or compare-and-swap it from the version we read; else `_RaceLost`."""
    if row is None:
        conn.execute(
            channels.insert().values(
                feature=feature, name=channel, release_id=to_release, version=1, updated_at=now
            )
        )
        return
    result = conn.execute(
        channels.update()
        .where(
            channels.c.feature == feature,
            channels.c.name == channel,
            channels.c.version == row.version,
        )
        .values(release_id=to_release, version=channels.c.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise _RaceLost


def _moves(conn: Connection, feature: str, channel: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        sa.select(channel_history.c.kind, channel_history.c.to_release)
        .where(channel_history.c.feature == feature, channel_history.c.channel == channel)
        .order_by(channel_history.c.seq)
    )
    return [(str(kind), str(target)) for kind, target in rows]


def _release(row: Row[Any]) -> ReleaseRecord:
    return ReleaseRecord(
        feature=row.feature,
        digest=row.digest,
        release_id=row.release_id,
        canonical=row.canonical,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _channel(row: Row[Any]) -> ChannelState:
    return ChannelState(
        feature=row.feature,
        channel=row.name,
        release_id=row.release_id,
        version=int(row.version),
        updated_at=row.updated_at,
    )


def _move_record(row: Row[Any]) -> ChannelMove:
    return ChannelMove(
        feature=row.feature,
        channel=row.channel,
        from_release=row.from_release,
        to_release=row.to_release,
        actor=row.actor,
        reason=row.reason,
        at=row.at,
        seq=int(row.seq),
        kind="rollback" if row.kind == "rollback" else "set",
    )


def _audit(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=int(row.id),
        at=row.at,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        before=row.before,
        after=row.after,
        reason=row.reason,
    )
