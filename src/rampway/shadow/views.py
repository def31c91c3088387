"""What `rampway shadow status` and `GET /api/v1/shadows/{name}` show: one document, two paths.

    doc = status_json(store, repo.latest(store, "v3-on-prod"), time.time())
    doc["state"]            # mirroring | over-budget | ended | stopped
    doc["pairs"]            # {"candidate": 812, "twin": 80}
    doc["spent_today_usd"]  # read back from the stored pairs (the fleet's spend)
"""

from __future__ import annotations

from typing import Any

from rampway.shadow import repo
from rampway.shadow.pairs import pair_counts, pair_summary, spent_since
from rampway.shadow.record import ShadowRecord
from rampway.store import Store


def status_json(store: Store, record: ShadowRecord, now: float) -> dict[str, Any]:
    spent = spent_since(store, [record.id], repo.day_start(now)).get(record.id, 0.0)
    doc = record.to_json()
    doc.update(
        state=record.state(now, spent),
        spent_today_usd=round(spent, 6),
        pairs=pair_counts(store, record),
        by_release=list(pair_summary(store, record).values()),
    )
    return doc


def brief_json(record: ShadowRecord) -> dict[str, Any]:
    doc = record.to_json()
    doc.pop("definition")
    return doc


def describe_state(doc: dict[str, Any]) -> str:
    """One line for humans: what the shadow is doing and why."""
    state = doc["state"]
    budget = doc["budget"]
    if state == "over-budget":
        return (f"over budget: spent ${doc['spent_today_usd']:.4f} of "
                f"${budget['usd_per_day']:g} today (UTC); mirroring resumes tomorrow")
    if state == "ended":
        return f"ended at {doc['ends_at']}: no longer mirroring (stop it to close it)"
    if state == "stopped":
        return f"stopped at {doc['stopped_at']} by {doc['stopped_by']}"
    return (f"mirroring {doc['sample_pct']:g}% of eligible requests, spent "
            f"${doc['spent_today_usd']:.4f} of ${budget['usd_per_day']:g} today; at most "
            f"{budget['requests_per_s']:g} shadow calls/s per process")


__all__ = ["brief_json", "describe_state", "status_json"]
