"""The public surface of rampway.dashboard."""

from __future__ import annotations

import rampway.dashboard


def test_dashboard_exports_are_what_we_mean() -> None:
    assert sorted(rampway.dashboard.__all__) == ["PREFIX", "create_dashboard_app"]
    assert rampway.dashboard.PREFIX == "/ui"
