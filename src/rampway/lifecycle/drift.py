"""Provider drift: the model a provider says answered changed under a release.

Each request event keeps the model rampway asked for (`model`) and what the provider's response
said answered (`served_model`, plus `system_fingerprint` where the wire has one). A release's
requests to one (provider, model) should keep reporting the same answer; when the reported model
changes, the provider moved an alias under us — a behaviour change nobody reviewed.

    observations = read_observations(store, since=time.time() - 86400)    # I/O: one query
    drifts = detect_drift(observations)                                    # pure
    [d.describe() for d in drifts]
    # ['support-bot@3f2a9c1e: sim/sim-large answered as sim-large-2025-01 → sim-large-2027-01
    #   (from 2027-01-10T09:14:03Z, 120 of 400 requests)']

`kind` is "model" when the reported model changed and "fingerprint" when only the backend
fingerprint did (OpenAI rotates fingerprints with infrastructure changes: worth seeing, rarely
worth an alarm; `rampway models watch` alerts on model changes only).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from rampway.events.tables import release_floor, request_event_rows
from rampway.store import Store


@dataclass(frozen=True, slots=True)
class Observation:
    """What one release's calls to one requested model reported, over a span of time."""

    release_id: str
    feature: str
    provider: str
    model: str  # requested
    served_model: str
    fingerprint: str | None
    first_ts: float
    last_ts: float
    count: int


@dataclass(frozen=True, slots=True)
class Drift:
    release_id: str
    feature: str
    provider: str
    model: str
    kind: str  # "model" | "fingerprint"
    before: str
    after: str
    since_ts: float  # first request answered by `after`
    after_count: int
    total: int

    def to_json(self) -> dict[str, Any]:
        return {"release_id": self.release_id, "feature": self.feature,
                "provider": self.provider, "model": self.model, "kind": self.kind,
                "before": self.before, "after": self.after, "since": _iso(self.since_ts),
                "after_requests": self.after_count, "requests": self.total}

    def describe(self) -> str:
        what = "answered as" if self.kind == "model" else "fingerprint"
        return (f"{self.release_id}: {self.provider}/{self.model} {what} {self.before} → "
                f"{self.after} (from {_iso(self.since_ts)}, {self.after_count} of {self.total} "
                "requests)")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def detect_drift(observations: Iterable[Observation]) -> list[Drift]:
    """Per (release, provider, requested model): the first and the latest reported answer,
    when they differ — the model first, else the fingerprint. Pure."""
    groups: dict[tuple[str, str, str], list[Observation]] = defaultdict(list)
    for obs in observations:
        groups[(obs.release_id, obs.provider, obs.model)].append(obs)
    found = []
    for seen in groups.values():
        drift = _one(sorted(seen, key=lambda o: (o.first_ts, o.last_ts)))
        if drift is not None:
            found.append(drift)
    return sorted(found, key=lambda d: (d.since_ts, d.release_id))


def _one(seen: Sequence[Observation]) -> Drift | None:
    first = seen[0]
    latest = max(seen, key=lambda o: (o.last_ts, o.first_ts))
    total = sum(o.count for o in seen)
    if latest.served_model != first.served_model:
        now = [o for o in seen if o.served_model == latest.served_model]
        return Drift(first.release_id, first.feature, first.provider, first.model, "model",
                     first.served_model, latest.served_model, min(o.first_ts for o in now),
                     sum(o.count for o in now), total)
    if latest.fingerprint != first.fingerprint and None not in (first.fingerprint,
                                                                  latest.fingerprint):
        now = [o for o in seen if o.fingerprint == latest.fingerprint]
        return Drift(first.release_id, first.feature, first.provider, first.model,
                     "fingerprint", str(first.fingerprint), str(latest.fingerprint),
                     min(o.first_ts for o in now), sum(o.count for o in now), total)
    return None


def read_observations(
    store: Store, *, since: float, until: float | None = None
) -> list[Observation]:
    """Answered requests since `since` grouped by what the provider reported (one query), plus
    the last answer before `since` per (release, model), so a change right at the window's
    start still shows as a change."""
    e = request_event_rows  # provider, model, served_model, … are the shape's (events_0011)
    where = [e.c.ts >= since, e.c.served_model.is_not(None), e.c.release_id.is_not(None),
             e.c.status == "ok"]
    if until is not None:
        where.append(e.c.ts < until)
    keys = (e.c.release_id, e.c.feature, e.c.provider, e.c.model, e.c.served_model,
            e.c.system_fingerprint)
    query = (sa.select(*keys, sa.func.min(e.c.ts), sa.func.max(e.c.ts), sa.func.count())
             .where(*where).group_by(*keys))
    with store.reading() as conn:
        rows = [Observation(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]),
                            None if r[5] is None else str(r[5]), float(r[6]), float(r[7]),
                            int(r[8])) for r in conn.execute(query)]
        rows += _before(conn, rows, since)
    return rows


def _before(conn: sa.Connection, rows: list[Observation], since: float) -> list[Observation]:
    """The latest answered request before `since` of each (release, provider, model) seen."""
    e = request_event_rows  # provider, model, served_model, … are the shape's (events_0011)
    out = []
    floors: dict[str, float] = {}  # one lookup per release, not per (provider, model)
    # the release's feature too: the lookup walks the (feature, ts) index (events_0012 dropped
    # the one on (release_id, ts)); a release belongs to one feature, so it selects the same row.
    # The floor stops the walk at the release's start: a new release has no row before `since`
    for release_id, feature, provider, model in sorted(
            {(o.release_id, o.feature, o.provider, o.model) for o in rows}):
        if release_id not in floors:
            floors[release_id] = release_floor(conn, release_id)
        row = conn.execute(
            sa.select(e.c.served_model, e.c.system_fingerprint, e.c.ts)
            .where(e.c.feature == feature, e.c.release_id == release_id,
                   e.c.provider == provider, e.c.model == model,
                   e.c.ts < since, e.c.ts >= floors[release_id],
                   e.c.served_model.is_not(None), e.c.status == "ok")
            .order_by(e.c.ts.desc()).limit(1)
        ).first()
        if row is not None:
            out.append(Observation(release_id, feature, provider, model, str(row[0]),
                                   None if row[1] is None else str(row[1]), float(row[2]),
                                   float(row[2]), 1))
    return out


__all__ = ["Drift", "Observation", "detect_drift", "read_observations"]
