"""One timeline per feature and per release: everything that happened to it, in order.

Releases published and approved, gate runs with their verdict, rollout transitions with the
judge's evidence, experiment starts and stops, channel moves and rollbacks, flag changes — who,
when, why, before → after. Pure assembly over the store; the CLI (`rampway timeline`), the admin
API (`GET /api/v1/features/{feature}/timeline`) and the dashboard all read it from here.

    entries = build_timeline(store, "support-bot", since=since_window("7d"))

Extension point: a timeline is assembled from a list of entry sources (`DEFAULT_SOURCES`,
see `rampway.timeline.sources`); pass `sources=(*DEFAULT_SOURCES, more)` to add an area.
"""

from rampway.timeline.build import MAX_LIMIT, build_timeline, since_window
from rampway.timeline.model import TimelineEntry, TimelineQuery
from rampway.timeline.sources import DEFAULT_SOURCES, EntrySource

__all__ = [
    "DEFAULT_SOURCES",
    "MAX_LIMIT",
    "EntrySource",
    "TimelineEntry",
    "TimelineQuery",
    "build_timeline",
    "since_window",
]
