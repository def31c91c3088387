"""The public surface of rampway.events.clickhouse is what we meant (STYLE #12), and importing
it — as reading rampway.yaml does — loads no numpy and no analysis."""

from __future__ import annotations

import subprocess
import sys

import rampway.events.clickhouse


def test_exported_members() -> None:
    assert sorted(rampway.events.clickhouse.__all__) == [
        "EventsTarget", "open_events", "parse_events_url", "resolve_events_url"]
    for name in rampway.events.clickhouse.__all__:
        assert getattr(rampway.events.clickhouse, name) is not None


def test_the_package_alone_loads_no_numpy_nor_the_engines() -> None:
    code = ("import sys, rampway.events.clickhouse; "
            "print(sorted(m for m in ('numpy', 'chdb', 'clickhouse_connect', "
            "'rampway.experiments') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
