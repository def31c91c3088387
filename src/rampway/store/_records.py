"""Plain, immutable records the store hands out (no SQLAlchemy objects escape the store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

MoveKind = Literal["set", "rollback"]


@dataclass(frozen=True)
class ReleaseRecord:
    """One published release: its canonical text is exactly what was hashed into `digest`."""

    feature: str
    digest: str
    release_id: str
    canonical: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class ChannelState:
    """Where a channel points now. `version` grows by one on every move (optimistic locking)."""

    feature: str
    channel: str
    release_id: str
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class ChannelMove:
    """One move of a channel. `seq` is the channel version the move produced (1, 2, 3, …)."""

    feature: str
    channel: str
    from_release: str | None
    to_release: str
    actor: str
    reason: str
    at: datetime
    seq: int
    kind: MoveKind = "set"


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which object, when and why; `before`/`after` are JSON values."""

    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    before: Any
    after: Any
    reason: str
