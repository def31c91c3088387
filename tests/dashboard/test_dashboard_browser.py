"""The dashboard in a real browser: Debian's chromium driven by Playwright (no browser download),
against a real gateway (uvicorn on 127.0.0.1, what `rampway serve` runs; in-process, which saves
a fresh interpreter's imports) with a rollout in flight. Sign in with an editor key, see the
feature on the overview, open the rollout page with its charts drawn, press pause with a reason,
and find the pause in the audit log. Screenshots of the pages go to build/screenshots/.

Chromium missing is a failure (`make test` installs it), unless RAMPWAY_SKIP_BROWSER=1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gateway_helpers import make_project, serve
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, plan, record_verdict

from rampway.admin import Role, create_admin_key
from rampway.gateway import Runtime
from rampway.rollout import Controller, repo
from rampway.store import Store

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parents[2] / "build" / "screenshots"
LIVE_PLAN = {
    "steps": [{"weight": 10, "dwell": "1h"}, {"weight": 100}],
    "guardrails": [
        {"metric": "error_rate", "margin": {"absolute": 0.05}, "critical": True, "min_sample": 50},
        {"metric": "latency_p95", "margin": {"relative": 0.5}, "min_sample": 50},
    ],
}


def _browser_or_fail() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("RAMPWAY_SKIP_BROWSER") == "1":
        pytest.skip("no /usr/bin/chromium (RAMPWAY_SKIP_BROWSER=1)")
    pytest.fail("no /usr/bin/chromium: `make test` installs it (apt-get install chromium), or "
                "set RAMPWAY_SKIP_BROWSER=1 to skip the browser tests")


def _live_rollout(store: Store, v1: str, v2: str, minutes: int = 3) -> int:
    """A rollout of v2 at 10% with `minutes` of simulated traffic and looks, ending now."""
    record_verdict(store, v2, v1)
    clock = FakeClock(time.time() - 60 * minutes)
    controller = Controller(store, clock=clock)
    started = controller.start(FEATURE, v2, plan=plan(**LIVE_PLAN), actor="ana",
                               reason="new tone")
    sim = Simulation(store, controller, clock, {"baseline": v1, "candidate": v2},
                     {"baseline": Profile(), "candidate": Profile()}, per_minute=250, units=2000)
    assert sim.run(minutes).status.value == "running"
    return started.id


def test_editor_pauses_a_rollout_from_the_browser(tmp_path: Path) -> None:
    _browser_or_fail()
    from playwright.sync_api import sync_playwright

    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'rampway.db'}")
    with Store.open(proj.db_url) as store:
        rollout_id = _live_rollout(store, proj.v1.id, proj.v2.id)
        _, key = create_admin_key(store, "edith", Role.EDITOR, actor="setup")
    outside: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve(Runtime.from_project(proj.project)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: None if r.url.startswith(url)
                else outside.append(r.url))
        page.goto(f"{url}/ui/")
        assert "/ui/login" in page.url
        page.fill("input[name=key]", key)
        page.click("button[type=submit]")
        page.wait_for_selector(f"tr[data-feature='{FEATURE}'] .chart[data-drawn='1'] canvas")
        assert f"rollout #{rollout_id}" in page.inner_text(f"tr[data-feature='{FEATURE}']")
        page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

        page.click(f"a[href='/ui/rollouts/{FEATURE}/{rollout_id}']")
        for chart in ("#weight-chart", ".guardrail[data-metric='error_rate']",
                      ".guardrail[data-metric='latency_p95']"):
            page.wait_for_selector(f"{chart}[data-drawn='1'] canvas")
        page.screenshot(path=str(SHOTS / "rollout.png"), full_page=True)

        form = "form[data-command='pause']"
        page.fill(f"{form} input[name=reason]", "p95 looks high in the browser")
        page.click(f"{form} button")
        page.wait_for_url(f"**/ui/rollouts/{FEATURE}/{rollout_id}?done=pause")
        assert "paused" in page.inner_text(".status")
        page.goto(f"{url}/ui/features/{FEATURE}")
        page.screenshot(path=str(SHOTS / "feature.png"), full_page=True)
        browser.close()
    assert outside == []  # nothing loaded from anywhere but the gateway
    with Store.open(proj.db_url) as store:
        assert repo.get(store, rollout_id).status.value == "paused"
        [entry] = store.list_audit(object_type="rollout", limit=1)
    assert (entry.action, entry.actor, entry.reason) == (
        "rollout.pause", "edith", "p95 looks high in the browser")
