"""The dashboard in a real browser: Debian's chromium driven by Playwright (no browser download),
against a real gateway (uvicorn on 127.0.0.1, what `rampway serve` runs; in-process, which saves
a fresh interpreter's imports), on SQLite and PostgreSQL, with one of everything seeded: a
rollout in flight, a failing gate report, a running experiment with traffic, a shadow with a
flagged class, flags, requests with their texts.

An editor walks every page (charts drawn, screenshots to build/screenshots/), flips a kill
switch through its confirmation and pauses the rollout, both found in the audit log. A viewer
sees no button, and its forged POSTs are refused. No request leaves 127.0.0.1.

Chromium missing is a failure (`make test` installs it), unless RAMPWAY_SKIP_BROWSER=1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from dashboard_seed import failing_gate, running_experiment, verbose_shadow
from gateway_helpers import Proj, make_project, serve, write_release
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, plan, record_verdict

from rampway.admin import Role, create_admin_key
from rampway.events.health import rebuild
from rampway.events.model import RequestEvent, hash_unit
from rampway.events.sink import SqlEventSink
from rampway.flags.store import FlagStore
from rampway.gateway import Runtime
from rampway.release import load_release
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


def _seed(store: Store, proj: Proj, tmp_path: Path) -> dict[str, Any]:
    """Everything the pages show, on the gateway project's real releases."""
    rollout_id = _live_rollout(store, proj.v1.id, proj.v2.id)
    gate = failing_gate(store, proj.v2.id, proj.v1.id)
    shadow = verbose_shadow(store, proj.v1.id, proj.v2.id)
    echo2 = load_release(write_release(tmp_path / "e2", "echo", {
        "provider": "sim", "model": "sim-large", "mode": "passthrough"}, {}), feature="echo")
    store.publish("echo", echo2.digest, echo2.id, echo2.canonical, actor="test", reason="test")
    experiment = running_experiment(store, "echo", ids=[proj.echo.id, echo2.id])
    FlagStore(store).put("flag", "echo.enabled", {"type": "bool", "default": True},
                         actor="ana", reason="kill switch ready")
    SqlEventSink(store).write([RequestEvent(
        id="req_explained", ts=time.time() - 5, feature=FEATURE, release_id=proj.v2.id,
        arm="production", unit_hash=hash_unit("u-1"), latency_ms=321.0,
        flags={f"{FEATURE}.release": {"value": proj.v2.id, "reason": "TARGETING_MATCH",
                                      "rule": 0}},
        prompt_text='{"messages": [{"role": "user", "content": "Where is my refund?"}]}',
        response_text="Your refund is on its way.")], [])
    rebuild(store, time.time() - 86400)  # the seeds wrote around the sink: the overview's health
    return {"rollout_id": rollout_id, "gate": gate.id, "shadow": shadow.name,
            "experiment": f"{experiment.name}/{experiment.id}"}


@pytest.mark.slow
def test_every_page_in_a_browser_editor_acts_viewer_cannot(tmp_path: Path, db_url: str) -> None:
    _browser_or_fail()
    from playwright.sync_api import sync_playwright

    proj = make_project(tmp_path, db_url)
    with Store.open(proj.db_url) as store:
        seeded = _seed(store, proj, tmp_path)
        _, editor_key = create_admin_key(store, "edith", Role.EDITOR, actor="setup", reason="test")
        _, viewer_key = create_admin_key(store, "vera", Role.VIEWER, actor="setup", reason="test")
    rollout_id = seeded["rollout_id"]
    outside: list[str] = []
    shots = SHOTS / ("postgres" if db_url.startswith("postgresql") else "sqlite")
    shots.mkdir(parents=True, exist_ok=True)
    with serve(Runtime.from_project(proj.project)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--no-sandbox", "--disable-gpu"])

        def signed_in(key: str) -> Any:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("request", lambda r: None if r.url.startswith(url)
                    else outside.append(r.url))
            page.goto(f"{url}/ui/")
            assert "/ui/login" in page.url
            page.fill("input[name=key]", key)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/ui/")
            return page

        page = signed_in(editor_key)

        def visit(path: str, shot: str, *drawn: str) -> None:
            response = page.goto(f"{url}{path}")
            assert response is not None and response.status == 200, (path, response)
            for chart in drawn:
                page.wait_for_selector(f"{chart}[data-drawn='1'] canvas")
            page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)

        page.wait_for_selector(f"tr[data-feature='{FEATURE}'] .chart[data-drawn='1'] canvas")
        assert f"rollout #{rollout_id}" in page.inner_text(f"tr[data-feature='{FEATURE}']")
        assert f"shadow {seeded['shadow']}" in page.inner_text(f"tr[data-feature='{FEATURE}']")
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        visit(f"/ui/features/{FEATURE}", "feature")
        page.select_option("select[name=a]", proj.v1.id)
        page.select_option("select[name=b]", proj.v2.id)
        page.click("#diff + form button")
        page.wait_for_selector(".release-diff pre.diff .add")
        page.screenshot(path=str(shots / "feature-diff.png"), full_page=True)
        visit(f"/ui/gates/{FEATURE}/{seeded['gate']}", "gate")
        assert "FAIL" in page.inner_text("#gate-verdict")
        assert page.is_visible("details[data-case='refund-policy'] .side-by-side")
        visit(f"/ui/experiments/{seeded['experiment']}", "experiment", "#retention-chart")
        assert "Decision:" in page.inner_text("#decision")
        visit(f"/ui/shadows/{seeded['shadow']}", "shadow")
        assert page.locator("section.flagged .exemplar").count() >= 1
        visit(f"/ui/requests?feature={FEATURE}", "requests")
        assert "rule 0 (TARGETING_MATCH)" in page.inner_text("tr[data-request='req_explained']")
        visit("/ui/audit", "audit")

        # the kill switch: a reason, the box ticked, the browser's confirmation accepted
        visit("/ui/flags", "flags")
        page.once("dialog", lambda dialog: dialog.accept())
        form = "tr[data-switch='echo'] form"
        page.fill(f"{form} input[name=reason]", "echo misbehaves")
        page.check(f"{form} input[name=confirm]")
        page.click(f"{form} button")
        page.wait_for_url("**/ui/flags?done=*")
        assert "off" in page.inner_text("tr[data-switch='echo'] .switch-state")

        visit(f"/ui/rollouts/{FEATURE}/{rollout_id}", "rollout", "#weight-chart",
              ".guardrail[data-metric='error_rate']", ".guardrail[data-metric='latency_p95']")
        form = "form[data-command='pause']"
        page.fill(f"{form} input[name=reason]", "p95 looks high in the browser")
        page.click(f"{form} button")
        page.wait_for_url(f"**/ui/rollouts/{FEATURE}/{rollout_id}?done=pause")
        assert "paused" in page.inner_text(".status")
        missing = page.goto(f"{url}/ui/rollouts/{FEATURE}/999999")
        assert missing is not None and missing.status == 404
        page.screenshot(path=str(shots / "not-found.png"), full_page=True)

        # a viewer: no button anywhere, and a POST with its own valid token is refused
        viewer = signed_in(viewer_key)
        viewer.goto(f"{url}/ui/rollouts/{FEATURE}/{rollout_id}")
        assert viewer.locator("form.command").count() == 0
        assert "can read only" in viewer.inner_text("main")
        viewer.goto(f"{url}/ui/flags")
        assert viewer.locator("form.switch").count() == 0
        token = viewer.get_attribute("input[name=csrf]", "value")
        for path, form_data in (
            (f"/ui/rollouts/{FEATURE}/rollback", {"reason": "viewer", "csrf": token}),
            (f"/ui/flags/{FEATURE}/switch", {"reason": "viewer", "csrf": token,
                                             "state": "off", "confirm": "yes"}),
        ):
            refused = viewer.request.post(f"{url}{path}", form=form_data,
                                          headers={"origin": url})
            assert refused.status == 403 and "role viewer" in refused.text(), path
        browser.close()
    assert outside == []  # nothing loaded from anywhere but the gateway
    with Store.open(proj.db_url) as store:
        assert repo.get(store, rollout_id).status.value == "paused"
        [paused] = store.list_audit(object_type="rollout", limit=1)
        [switched] = store.list_audit(object_type="flag", object_id="echo.enabled", limit=1)
        assert not any(e.actor == "vera" for e in store.list_audit(limit=1000))
    assert (paused.action, paused.actor, paused.reason) == (
        "rollout.pause", "edith", "p95 looks high in the browser")
    assert (switched.actor, switched.reason, switched.after["definition"]["default"]) == (
        "edith", "echo misbehaves", False)
