"""The area pages in-process (SQLite and PostgreSQL), each on a store seeded through the real
code paths: a gate report, an experiment, a shadow, flags with the kill switch, requests
explained, the audit log; unknown names are 404 pages."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from dashboard_client import BASE, csrf_of, sign_in
from dashboard_seed import failing_gate, live_rollout, running_experiment, verbose_shadow
from gateway_helpers import make_project
from markupsafe import escape
from rollout_helpers import FEATURE
from timeline_seed import seed

from rampway.admin import Role, create_admin_key
from rampway.dashboard import create_dashboard_app
from rampway.dashboard.gate_view import gate_view
from rampway.events.model import RequestEvent, hash_unit
from rampway.events.sink import SqlEventSink
from rampway.experiments.analysis import analyze
from rampway.experiments.report import change_text
from rampway.flags.store import FlagStore
from rampway.gate import GateRecord
from rampway.gate.model import Verdict
from rampway.release import diff_releases
from rampway.shadow import load_pairs
from rampway.shadow.report import build_report
from rampway.store import Store


async def viewer(store: Store, ui: httpx.AsyncClient) -> None:
    _, key = create_admin_key(store, "vera", Role.VIEWER, actor="t", reason="test")
    await sign_in(ui, key)


async def test_gate_page_renders_the_recorded_report(store: Store, ui: httpx.AsyncClient) -> None:
    seeded = seed(store)
    gate = failing_gate(store, seeded.candidate, seeded.baseline)
    await viewer(store, ui)

    feature = await ui.get(f"/ui/features/{FEATURE}")
    assert f'href="/ui/gates/{FEATURE}/{gate.id}"' in feature.text  # listed and in the timeline
    page = await ui.get(f"/ui/gates/{FEATURE}/{gate.id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<strong>FAIL</strong>" in text
    assert "1 critical case(s) newly fail: refund-policy" in text
    assert 'data-axis="exact"' in text and "-10.00 pts" in text and "[-14.50, -5.50] pts" in text
    assert "±1.50 pts" in text  # the noise floor
    assert 'data-axis="cost"' in text and "$0.001200" in text and "[-30.00, -20.00] %" in text
    assert 'data-axis="latency_p95"' in text and "900 ms" in text and "1100 ms" in text
    assert "Newly failing cases (2)" in text and 'data-case="refund-policy"' in text
    assert "Refunds within &lt;90&gt; days." in text  # the output, escaped, side by side
    assert "Newly passing (2)" in text and "<code>tone-1</code>" in text
    assert "Flaky in the candidate (mixed across repeats): 1 case(s)" in text

    for path in (f"/ui/gates/{FEATURE}/999999", f"/ui/gates/other-bot/{gate.id}",
                 f"/ui/gates/{FEATURE}/99999999999"):
        missing = await ui.get(path)
        assert missing.status_code == 404 and "<h1>404</h1>" in missing.text, path


def chart_of(html: str, element_id: str) -> dict[str, object]:
    found = re.search(rf"id=\"{element_id}\" data-chart='([^']*)'", html)
    assert found, f"no chart #{element_id}"
    return dict(json.loads(found.group(1).replace("&#34;", '"')))


async def test_experiment_page_shows_the_analysis(store: Store, ui: httpx.AsyncClient) -> None:
    record = running_experiment(store)
    await viewer(store, ui)
    home = await ui.get("/ui/")
    assert f'href="/ui/experiments/greeting/{record.id}"' in home.text

    page = await ui.get(f"/ui/experiments/greeting/{record.id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-refresh="10"' in text  # running: the page refreshes itself
    assert re.search(r'id="computed-at">Analysed at 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC', text)
    analysis = analyze(store, record)  # what `rampway experiment analyze` says
    assert f"Decision: {analysis.decision.value}" in text and analysis.explanation in text
    for arm in analysis.arms:
        assert re.search(rf'data-arm="{arm.name}">.*?<td class="n">{arm.units}</td>', text)
    assert 'id="srm"' in text and ("ok (p = " in text or "MISMATCH" in text)
    for r in analysis.results:
        assert f'data-metric="{r.metric}"' in text
        assert change_text(r) in text.replace("&#43;", "+")
    retention = chart_of(text, "retention-chart")
    assert retention["time"] is False and len(retention["x"]) >= 5  # hours since exposure
    series = {s["label"]: s["data"] for s in retention["series"]}  # type: ignore[attr-defined]
    assert set(series) == {"control", "treatment1"}
    assert all(v is None or 0 <= v <= 1 for v in series["control"])
    assert (await ui.get("/ui/experiments/greeting")).status_code == 200  # the latest
    for path in ("/ui/experiments/nope", f"/ui/experiments/other/{record.id}",
                 "/ui/experiments/greeting/999999"):
        missing = await ui.get(path)
        assert missing.status_code == 404 and "<h1>404</h1>" in missing.text, path


async def test_shadow_page_shows_flagged_classes_side_by_side(store: Store,
                                                              ui: httpx.AsyncClient) -> None:
    seeded = seed(store)
    record = verbose_shadow(store, seeded.baseline, seeded.candidate)
    report = build_report(load_pairs(store, record.name), name=record.name)  # the CLI's report
    assert report.flagged, "the seed must give the report something to flag"
    await viewer(store, ui)
    home = await ui.get("/ui/")
    assert f'href="/ui/shadows/{record.name}"' in home.text and 'data-refresh="10"' in home.text

    page = await ui.get(f"/ui/shadows/{record.name}")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-refresh="10"' in text and "<strong>mirroring</strong>" in text
    assert re.search(r'id="computed-at">Report computed at 20\d\d-\d\d-\d\d \d\d:', text)
    assert report.verdict_line in text
    for flagged in report.flagged:
        assert f'data-class="{flagged.rate.name}"' in text
        for exemplar in flagged.exemplars:
            assert exemplar.primary in text and exemplar.candidate in text
            assert exemplar.request is not None and exemplar.request in text
    assert "p50" in text and "cost per request (USD)" in text
    for path, status in (("/ui/shadows/nope", 404), ("/ui/shadows/bad%20name", 400)):
        r = await ui.get(path)
        assert r.status_code == status, path


async def test_flags_page_and_its_audited_kill_switch(store: Store, ui: httpx.AsyncClient) -> None:
    seed(store)  # support-bot.enabled: default false (incident 42), other-bot.enabled: true
    await viewer(store, ui)
    page = await ui.get("/ui/flags")
    assert page.status_code == 200, page.text
    assert 'data-flag="support-bot.enabled"' in page.text and "incident 42" not in page.text
    assert 'data-switch="support-bot"' in page.text
    assert "data-command=" not in page.text and "can read only" in page.text  # no buttons
    token = csrf_of(page.text)
    before = len(store.list_audit(limit=1000))
    refused = await ui.post(f"/ui/flags/{FEATURE}/switch", data={
        "csrf": token, "state": "on", "confirm": "yes", "reason": "viewer tries"})
    assert refused.status_code == 403 and "role viewer" in refused.text
    assert len(store.list_audit(limit=1000)) == before

    ui.cookies.clear()
    _, key = create_admin_key(store, "edith", Role.EDITOR, actor="t", reason="test")
    await sign_in(ui, key)
    page = await ui.get("/ui/flags")
    form = re.search(r'data-switch="support-bot">.*?</tr>', page.text, re.S)
    assert form and 'data-command="on"' in form.group(0) and "data-confirm=" in form.group(0)
    version = FlagStore(store).get("flag", f"{FEATURE}.enabled").version  # type: ignore[union-attr]
    url = f"/ui/flags/{FEATURE}/switch"
    good = {"csrf": csrf_of(page.text), "state": "on", "confirm": "yes",
            "reason": "incident over", "version": str(version)}
    for change, status in (({"confirm": ""}, 400), ({"reason": " "}, 422), ({"csrf": ""}, 403),
                           ({"state": "maybe"}, 400), ({"version": str(version - 1)}, 409)):
        r = await ui.post(url, data={**good, **change})
        assert r.status_code == status, (change, r.text)
        if status == 422:
            assert "needs a reason" in r.text and "reason box" in r.text
    assert (await ui.post("/ui/flags/nope/switch", data=good)).status_code == 404
    assert len(store.list_audit(limit=1000)) == before + 1  # the key; no refusal wrote

    done = await ui.post(url, data=good)
    assert done.status_code == 303 and done.headers["location"].startswith("/ui/flags?done=")
    [entry] = store.list_audit(object_type="flag", object_id=f"{FEATURE}.enabled", limit=1)
    assert (entry.action, entry.actor, entry.reason) == ("flag.update", "edith", "incident over")
    flag = FlagStore(store).get("flag", f"{FEATURE}.enabled")
    assert flag is not None and flag.definition == {"type": "bool", "default": True}
    again = await ui.post(url, data={**good, "state": "off"})  # the page's version is stale now
    assert again.status_code == 409


def _served(rid: str, ts: float, release: str, arm: str, flags: dict[str, object] | None = None,
            status: str = "ok", **extra: object) -> RequestEvent:
    return RequestEvent(id=rid, ts=ts, feature=FEATURE, release_id=release, arm=arm,
                        unit_hash=hash_unit(rid), latency_ms=120.0, output_tokens=20,
                        cost_usd=0.002, status=status, flags=flags, **extra)  # type: ignore[arg-type]


async def test_requests_page_explains_each_answer(store: Store, ui: httpx.AsyncClient) -> None:
    live = live_rollout(store)  # a rollout of the candidate at 10%, with traffic
    seeded = live.seeded
    now = time.time()
    pinned = {f"{FEATURE}.release": {"value": seeded.candidate, "reason": "TARGETING_MATCH",
                                     "rule": 1},
              f"{FEATURE}.model": {"value": "sim-small", "reason": "DEFAULT", "rule": None}}
    SqlEventSink(store).write([
        _served("req_pinned", now - 3, seeded.candidate, "production", pinned,
                prompt_text='{"messages": [{"role": "user", "content": "where is <my> order?"}]}',
                response_text="It ships on Monday."),
        _served("req_cand", now - 2, seeded.candidate, "candidate"),
        _served("req_broken", now - 1, seeded.baseline, "baseline", status="error"),
        _served("req_plain", now - 4, seeded.baseline, "production"),
    ], [])
    experiment = running_experiment(store)  # faq-bot: its arms' traffic
    await viewer(store, ui)
    page = await ui.get(f"/ui/requests?feature={FEATURE}")
    assert page.status_code == 200, page.text
    text = page.text
    assert text.index('data-request="req_broken"') < text.index('data-request="req_pinned"')
    row = re.search(r'data-request="req_pinned".*?</details>', text, re.S)
    assert row is not None
    pinned_row = row.group(0)
    why = f"flag {FEATURE}.release rule 1 (TARGETING_MATCH) served {seeded.candidate}"
    assert why in pinned_row
    assert f"flag {FEATURE}.model = sim-small (DEFAULT)" in pinned_row
    assert "where is &lt;my&gt; order?" in pinned_row and "It ships on Monday." in pinned_row
    cand = re.search(r'data-request="req_cand".*?</tr>', text, re.S)
    assert cand and f"the candidate arm of rollout #{live.rollout.id}" in cand.group(0)
    plain = re.search(r'data-request="req_plain".*?</tr>', text, re.S)
    assert plain and f"channel production served {seeded.baseline}" in plain.group(0)
    arms = await ui.get("/ui/requests?feature=faq-bot&arm=treatment1")
    assert f"arm treatment1 of experiment greeting#{experiment.id}" in arms.text

    errors = await ui.get(f"/ui/requests?feature={FEATURE}&status=error")
    assert 'data-request="req_broken"' in errors.text and "req_pinned" not in errors.text
    by_arm = await ui.get(f"/ui/requests?arm=production&release={seeded.candidate}")
    assert 'data-request="req_pinned"' in by_arm.text and "req_cand" not in by_arm.text
    none = await ui.get("/ui/requests?feature=nope")
    assert none.status_code == 200 and "No request matches." in none.text
    bad = await ui.get("/ui/requests?arm=a%00b")
    assert bad.status_code == 400 and "NUL" in bad.text

    audit = await ui.get("/ui/audit")
    assert audit.status_code == 200 and "rollout.create" in audit.text
    assert "refunds regressed" in audit.text and "incident 42" in audit.text
    flags_only = await ui.get("/ui/audit?object_type=flag")
    assert "incident 42" in flags_only.text and "refunds regressed" not in flags_only.text
    one = await ui.get(f"/ui/audit?object_type=rollout&object_id={FEATURE}%23{seeded.rollout_id}")
    assert "refunds regressed" in one.text and "second try" not in one.text
    assert (await ui.get("/ui/audit?object_id=a%00")).status_code == 400


async def test_feature_page_diffs_two_releases(tmp_path: Path, db_url: str) -> None:
    proj = make_project(tmp_path, db_url)
    with Store.open(proj.db_url) as store:
        store.set_channel(FEATURE, "production", proj.v2.id, actor="ana", reason="v2")
        transport = httpx.ASGITransport(app=create_dashboard_app(store))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as ui:
            await viewer(store, ui)
            page = await ui.get(f"/ui/features/{FEATURE}")
            link = f"?a={quote(proj.v1.id)}&amp;b={quote(proj.v2.id)}#diff"
            assert link in page.text  # the channel move offers its diff
            diff = await ui.get(f"/ui/features/{FEATURE}?a={proj.v1.id}&b={proj.v2.id}")
            assert diff.status_code == 200, diff.text
            expected = diff_releases(proj.v1, proj.v2)
            assert not expected.identical
            for field in expected.fields:
                assert str(escape(field.render())) in diff.text
            for file in expected.files:
                added = [ln for ln in file.diff.splitlines() if ln[:1] == "+" and ln[:3] != "+++"]
                assert f'<span class="add">{escape(added[0])}</span>' in diff.text
            missing = await ui.get(f"/ui/features/{FEATURE}?a={proj.v1.id}&b={FEATURE}@ffffffff")
            assert missing.status_code == 404


def test_a_gate_report_cut_to_fit_the_store_still_renders() -> None:
    """A huge report is stored as its verdict and reasons only (`bounded_summary`): the page
    shows those, says it was cut, and has no tables to show."""
    from dataclasses import replace

    from rampway.dashboard.app import Dashboard
    from rampway.gate.records import bounded_summary

    full = GateRecord(1, FEATURE, f"{FEATURE}@bbbb", f"{FEATURE}@aaaa", Verdict.FAIL, "p",
                      "0" * 64, None, {}, "ci", datetime.now(UTC))
    doc = {"feature": FEATURE, "verdict": "fail", "policy": "p", "decision": {
        "verdict": "fail", "reasons": ["quality dropped"], "rules": []},
        "comparison": {"axes": {}, "newly_failing": [{"case_id": f"c{i}", "critical": False,
                                                      "baseline_pass_rate": 1.0,
                                                      "candidate_pass_rate": 0.0,
                                                      "baseline_output": "x" * 400,
                                                      "candidate_output": "y" * 400}
                                                     for i in range(400)]}}
    cut = bounded_summary(doc, limit=2000)
    assert cut["truncated"] and "comparison" not in cut
    view = gate_view(replace(full, summary=cut))
    assert view["truncated"] and not view["has_tables"] and view["reasons"] == ["quality dropped"]
    html = Dashboard(None, None, None).env.get_template("gate.html").render(
        prefix="/ui", g=view, user=None, csrf="", refresh=False)
    assert "quality dropped" in html and "cut down to fit the store" in html
    assert "gate-quality" not in html and "Newly failing cases (0)" in html
