"""The dashboard in-process (SQLite and PostgreSQL): sign-in with admin keys, every page on a
seeded store with a rollout in flight, commands with reason + CSRF + role through the same
controller and audit as the API, bad input as 4xx pages, a revoked key logged out at once."""

from __future__ import annotations

import httpx
from dashboard_client import BASE, csrf_of, sign_in
from dashboard_seed import Live, live_rollout
from rollout_helpers import FEATURE

from rampway.admin import Role, create_admin_key, revoke_admin_key
from rampway.dashboard.session import csrf_token
from rampway.rollout import repo
from rampway.store import Store


async def test_viewer_reads_editor_acts(store: Store, ui: httpx.AsyncClient) -> None:
    live: Live = live_rollout(store)
    first = await ui.get("/ui/")
    assert first.status_code == 303 and first.headers["location"] == "/ui/login?next=%2Fui%2F"
    assert (await ui.get("/ui/login")).status_code == 200
    asset = await ui.get("/ui/static/vendor/uplot/uPlot.iife.min.js")
    assert asset.status_code == 200 and "uPlot" in asset.text
    refused = await ui.post("/ui/login", data={"key": "rwa_wrong"})
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    _, key = create_admin_key(store, "vera", Role.VIEWER, actor="t", reason="test")
    await sign_in(ui, key)

    home = await ui.get("/ui/")
    assert home.status_code == 200 and "default-src 'self'" in home.headers[
        "content-security-policy"]
    assert f'data-feature="{FEATURE}"' in home.text
    assert f"rollout #{live.rollout.id}</a>: running, step 1/2 at 10.0%" in home.text
    assert 'class="chart spark" data-chart=' in home.text and "http://" not in home.text

    feature = await ui.get(f"/ui/features/{FEATURE}")
    assert feature.status_code == 200
    assert "refunds regressed" in feature.text and "production rolled back" in feature.text

    page = await ui.get(f"/ui/rollouts/{FEATURE}")
    assert page.status_code == 200, page.text
    assert 'data-metric="error_rate"' in page.text and 'data-metric="latency_p95"' in page.text
    assert 'id="weight-chart"' in page.text and "looks)" in page.text
    assert "data-command=" not in page.text and "can read only" in page.text  # no buttons
    assert len(repo.looks(store, live.rollout.id)) >= 3

    old = await ui.get(f"/ui/rollouts/{FEATURE}/{live.seeded.rollout_id}")
    assert old.status_code == 200 and "rolled_back" in old.text
    for path in ("/ui/features/nope", f"/ui/rollouts/{FEATURE}/999999", "/ui/rollouts/nope",
                 "/ui/nowhere"):
        missing = await ui.get(path)
        assert missing.status_code == 404 and "<h1>404</h1>" in missing.text, path
    unusable = await ui.get("/ui/rollouts/a%00b")  # PostgreSQL cannot even be asked
    assert unusable.status_code == 400 and "NUL" in unusable.text
    garbled = await ui.get("/ui/features/%ED%A0%80")  # not UTF-8: decoded with U+FFFD
    assert garbled.status_code == 404

    # a viewer's forged click is refused, even with its own valid token
    before = len(store.list_audit(limit=1000))
    token = csrf_of(home.text)
    click = await ui.post(f"/ui/rollouts/{FEATURE}/pause",
                          data={"csrf": token, "reason": "viewer tries"})
    assert click.status_code == 403 and "role viewer" in click.text
    assert len(store.list_audit(limit=1000)) == before

    # an editor acts (the same store and rollout)
    ui.cookies.clear()
    admin_key, key = create_admin_key(store, "eddie", Role.EDITOR, actor="t", reason="test")
    url = f"/ui/rollouts/{FEATURE}/pause"
    assert (await ui.post(url, data={"reason": "x"})).status_code == 401  # not signed in
    await sign_in(ui, key)
    page = await ui.get(f"/ui/rollouts/{FEATURE}")
    assert 'data-command="pause"' in page.text and 'data-command="rollback"' in page.text
    token = csrf_of(page.text)
    assert token == csrf_token(key)
    before = len(store.list_audit(limit=1000))

    for data, headers, status in (
        ({"reason": "no token"}, {}, 403),
        ({"reason": "forged", "csrf": "0" * 64}, {}, 403),
        ({"reason": "cross-site", "csrf": token}, {"origin": "https://evil.example"}, 403),
        ({"reason": "", "csrf": token}, {}, 422),  # reason_required, as on the admin API
        ({"reason": "x" * 5000, "csrf": token}, {}, 400),
        ({"reason": "stale", "csrf": token, "version": "1"}, {}, 409),
    ):
        r = await ui.post(url, data=data, headers=headers)
        assert r.status_code == status, (data, r.text)
    huge = await ui.post(url, content=b"reason=" + b"a" * 20_000,
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 400
    json_body = await ui.post(url, json={"reason": "json", "csrf": token})
    assert json_body.status_code == 400
    assert len(store.list_audit(limit=1000)) == before  # nothing written by any refusal

    done = await ui.post(url, data={"reason": "latency looks odd", "csrf": token,
                                    "version": str(repo.get(store, live.rollout.id).version)},
                         headers={"origin": BASE})
    assert done.status_code == 303
    assert done.headers["location"] == f"/ui/rollouts/{FEATURE}/{live.rollout.id}?done=pause"
    assert repo.get(store, live.rollout.id).status.value == "paused"
    [entry] = store.list_audit(object_type="rollout", object_id=f"{FEATURE}#{live.rollout.id}",
                               limit=1)
    assert (entry.action, entry.actor, entry.reason) == ("rollout.pause", "eddie",
                                                         "latency looks odd")
    again = await ui.post(url, data={"reason": "twice", "csrf": token})
    assert again.status_code == 409 and "not running" in again.text  # the state machine's rule

    revoke_admin_key(store, admin_key.name, actor="t", reason="test")
    gone = await ui.get(f"/ui/rollouts/{FEATURE}")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login")
