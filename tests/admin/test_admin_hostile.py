"""Hostile URL segments on the admin API (issue #12, defect 4): ids beyond the database's range
are 404s (not PostgreSQL's "integer out of range" as a 500), and a URL segment that would
become a file name is validated first. Plus: app keys carry a reason into the audit log."""

from __future__ import annotations

import httpx
import pytest
from admin_helpers import Keys

from rampway.admin import PREFIX
from rampway.store import Store


@pytest.mark.parametrize("rid", [2**31, 2**31 + 7, 2**63, 2**64 + 1, 10**30, 0])
async def test_ids_out_of_range_are_404(api: httpx.AsyncClient, keys: Keys, rid: int) -> None:
    for path in (f"/rollouts/support-bot/{rid}", f"/experiments/pricing/{rid}"):
        r = await api.get(PREFIX + path, headers=keys.headers("viewer"))
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "unknown_ref"


@pytest.mark.parametrize("name", ["x" * 300, "a.b" + "c" * 70, ".hidden", "-lead", "sp ace"])
async def test_rollout_feature_names_are_checked_before_any_file_is_read(
    api: httpx.AsyncClient, keys: Keys, store: Store, name: str
) -> None:
    audits = len(store.list_audit(limit=1000))
    r = await api.post(f"{PREFIX}/rollouts/{name}", json={"candidate": "x", "reason": "t"},
                       headers=keys.headers("editor"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "feature"
    assert len(store.list_audit(limit=1000)) == audits


async def test_app_key_create_and_revoke_carry_a_reason_into_the_audit_log(
    api: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    admin = keys.headers("admin")
    made = await api.post(f"{PREFIX}/app-keys", json={"name": "web", "reason": "new web app"},
                          headers=admin)
    assert made.status_code == 201, made.text
    gone = await api.delete(f"{PREFIX}/app-keys/web", params={"reason": "leaked in a log"},
                            headers=admin)
    assert gone.status_code == 200
    audit = {a.action: a.reason for a in store.list_audit(object_type="app_key", limit=10)}
    assert audit == {"key.create": "new web app", "key.revoke": "leaked in a log"}
