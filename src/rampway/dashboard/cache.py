"""Analyses the pages serve from memory: computed at most once at a time, refreshed off the
request path, never older than the data's last change plus one refresh period.

An experiment's analysis or a shadow's report reads every event of its window (1.8 s on
PostgreSQL at 1M events) and the page reloads itself every 10 s while it runs. Computing it per
view makes every viewer wait and N viewers compute it N times at once. So each analysis is kept
under a key naming what it analyses (an experiment's id and state) with a `fingerprint` of its
data (the newest event's time, the last pair's id), and:

- younger than `ttl`: served as is, no query at all;
- older: the fingerprint is read (one indexed lookup); unchanged, the analysis is still the
  data's and is served (and counts as checked now); changed, the old analysis is served at once
  and one background thread recomputes it — a second viewer meanwhile gets the old one too;
- absent (first view, or a new key: the experiment was stopped): the viewer computes it, and
  any other viewer of the same key waits for that computation instead of starting its own.

A failed background refresh is logged and the previous analysis stays, to be retried at the
next view after `ttl` (a page that raised would show nothing at all). The page shows
`computed_at`, so nobody mistakes a 10-second-old analysis for the present.

    cache = AnalysisCache(ttl=10.0)
    got = cache.get(("experiment", 7, None), lambda: newest_ts(...), lambda: analyse(...))
    got.value, got.computed_at
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger("rampway.dashboard")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cached(Generic[T]):
    value: T
    computed_at: float  # epoch seconds
    fingerprint: Hashable


class _Entry:
    __slots__ = ("checked", "found", "lock", "refresh")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by whoever computes this key
        self.found: Cached[Any] | None = None
        self.checked = 0.0  # monotonic: when `found` was last known to match the data
        self.refresh: threading.Thread | None = None


class AnalysisCache:
    """Analyses by key, with the protocol of the module docstring. Thread-safe (the dashboard's
    page handlers run in a thread pool)."""

    def __init__(self, ttl: float, *, max_entries: int = 64,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._wall = wall
        self._guard = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self.computations = 0  # how many analyses were computed (for tests and curiosity)

    def get(self, key: Hashable, fingerprint: Callable[[], Hashable],
            compute: Callable[[], T]) -> Cached[T]:
        entry = self._entry(key)
        found = entry.found
        if found is not None:
            if self._clock() - entry.checked < self.ttl:
                return found
            return self._revalidate(entry, found, fingerprint, compute)
        with entry.lock:  # the first view computes; the others of that moment wait for it
            if entry.found is not None:
                return entry.found
            return self._compute(entry, fingerprint, compute)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background refreshes under way (tests; shutting down)."""
        with self._guard:
            threads = [e.refresh for e in self._entries.values() if e.refresh is not None]
        for thread in threads:
            thread.join(timeout)

    def _entry(self, key: Hashable) -> _Entry:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= self.max_entries:
                    self._evict()
                entry = self._entries[key] = _Entry()
            return entry

    def _evict(self) -> None:
        """Drop the least recently checked entry that nobody is computing (caller holds
        `_guard`)."""
        idle = [(e.checked, k) for k, e in self._entries.items() if not e.lock.locked()]
        if idle:
            del self._entries[min(idle, key=lambda item: item[0])[1]]

    def _revalidate(self, entry: _Entry, found: Cached[T], fingerprint: Callable[[], Hashable],
                    compute: Callable[[], T]) -> Cached[T]:
        if not entry.lock.acquire(blocking=False):
            return found  # someone is already checking or recomputing: theirs will do
        try:
            if entry.found is not None and entry.found is not found:  # refreshed meanwhile
                found = entry.found
                entry.lock.release()
                return found
            now = fingerprint()
            if now == found.fingerprint:
                entry.checked = self._clock()
                entry.lock.release()
                return found
            thread = threading.Thread(target=self._refresh, args=(entry, now, compute),
                                      name="rampway-dashboard-refresh", daemon=True)
            entry.refresh = thread
            thread.start()  # it releases the lock when done
        except BaseException:
            entry.lock.release()
            raise
        return found

    def _refresh(self, entry: _Entry, fingerprint: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self._store(entry, fingerprint, compute())
        except Exception:  # the previous analysis stays, retried after `ttl` (docstring)
            log.exception("refreshing a dashboard analysis failed; serving the previous one")
            entry.checked = self._clock()
        finally:
            entry.lock.release()

    def _compute(self, entry: _Entry, fingerprint: Callable[[], Hashable],
                 compute: Callable[[], T]) -> Cached[T]:
        mark = fingerprint()  # before computing: a change during it shows as a change later
        return self._store(entry, mark, compute())

    def _store(self, entry: _Entry, fingerprint: Hashable, value: T) -> Cached[T]:
        found = Cached(value, self._wall(), fingerprint)
        entry.found, entry.checked = found, self._clock()
        self.computations += 1
        return found


__all__ = ["AnalysisCache", "Cached"]
