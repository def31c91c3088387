"""Assemble a feature's timeline from its entry sources: one merged, time-ordered list.

    entries = build_timeline(store, "support-bot", release="support-bot@9f1c",
                             since=since_window("7d"))
    for e in entries:                      # oldest first
        print(e.at, e.summary, e.actor, e.reason)

Each source reads its own area's rows (`rampway.timeline.sources`); this module only checks the
question, asks every source and merges. Shadow traffic (or any later area) adds itself as one
more source: `build_timeline(..., sources=(*DEFAULT_SOURCES, shadow_entries))`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rampway.errors import ConfigError, RefError
from rampway.rollout.plan import parse_duration
from rampway.store import Store
from rampway.timeline.model import TimelineEntry, TimelineQuery
from rampway.timeline.sources import DEFAULT_SOURCES, EntrySource

MAX_LIMIT = 5000


def since_window(text: str, now: datetime | None = None) -> datetime:
    """The start of a window given as a duration back from now (`7d`, `12h`, `90m`).

    >>> since_window("1d", datetime(2026, 1, 8, tzinfo=UTC)).isoformat()
    '2026-01-07T00:00:00+00:00'
    """
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"since: {exc}") from exc
    return (now or datetime.now(UTC)) - timedelta(seconds=seconds)


def build_timeline(
    store: Store,
    feature: str,
    *,
    release: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
    sources: Sequence[EntrySource] = DEFAULT_SOURCES,
) -> list[TimelineEntry]:
    """The newest `limit` entries of `feature` (of one release when given), oldest first.

    An unknown feature or release is a `RefError` (404 in the API); `release` is any ref
    `Store.get_release` takes (`support-bot@9f1c`, a hex prefix, a digest).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    if feature not in store.list_features():
        raise RefError(f"unknown feature {feature!r}")
    release_id = None if release is None else store.get_release(feature, release).release_id
    query = TimelineQuery(feature, release_id, since, limit)
    entries = [entry for source in sources for entry in source(store, query)]
    entries.sort(key=lambda e: e.at)  # stable: a source's own order breaks ties
    return entries[-limit:]


__all__ = ["MAX_LIMIT", "build_timeline", "since_window"]
