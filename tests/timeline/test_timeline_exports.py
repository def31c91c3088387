"""The public surface of rampway.timeline."""

from __future__ import annotations

import rampway.timeline


def test_timeline_exports_are_what_we_mean() -> None:
    assert sorted(rampway.timeline.__all__) == sorted([
        "DEFAULT_SOURCES", "MAX_LIMIT", "EntrySource", "TimelineEntry", "TimelineQuery",
        "build_timeline", "since_window",
    ])
    for name in rampway.timeline.__all__:
        assert getattr(rampway.timeline, name) is not None

