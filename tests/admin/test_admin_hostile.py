"""Hostile URL segments on the admin API (issue #12, defect 4): ids beyond the database's range
are 404s (not PostgreSQL's "integer out of range" as a 500), and a URL segment that would
become a file name is validated first. Plus: app keys carry a reason into the audit log."""

from __future__ import annotations

from typing import Any

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


HOSTILE_BODIES: list[tuple[str, str, bytes, str]] = [
    # (method, path, raw body, param) — each was a 500 on PostgreSQL (NUL in text or JSONB) or
    # an unhandled UnicodeEncodeError (lone surrogate) before the admin API checked its input
    ("PUT", "/flags/bot.x",
     b'{"definition": {"type": "bool", "default": true}, "reason": "a\\u0000b"}', "reason"),
    ("PUT", "/flags/bot.y",
     b'{"definition": {"type": "string", "default": "a\\u0000"}, "reason": "r"}',
     "definition.default"),
    ("PUT", "/flags/bot.z",
     b'{"definition": {"type": "string", "default": "\\ud800"}, "reason": "r"}',
     "definition.default"),
    ("PUT", "/flags/bot.n",
     b'{"definition": {"type": "number", "default": 1e400}, "reason": "r"}',
     "definition.default"),
    ("POST", "/app-keys", b'{"name": "k\\u0000", "reason": "r"}', "name"),
    ("POST", "/keys", b'{"name": "k", "role": "viewer", "reason": "\\ud800"}', "reason"),
    ("PUT", "/features/support-bot/channels/candidate",
     b'{"release": "x", "reason": "a\\u0000"}', "reason"),
]


@pytest.mark.parametrize(("method", "path", "body", "param"), HOSTILE_BODIES,
                         ids=[f"{m} {p} {param}" for m, p, _, param in HOSTILE_BODIES])
async def test_values_the_store_cannot_hold_are_a_400_naming_the_field(
    api: httpx.AsyncClient, keys: Keys, store: Store,
    method: str, path: str, body: bytes, param: str,
) -> None:
    audits = len(store.list_audit(limit=1000))
    r = await api.request(method, PREFIX + path, content=body,
                          headers={**keys.headers("admin"), "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert len(store.list_audit(limit=1000)) == audits  # nothing written


async def test_nul_in_the_path_or_query_and_deep_nesting_are_400s(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    admin = keys.headers("admin")
    assert (await api.get(f"{PREFIX}/features/%00x", headers=admin)).status_code == 400
    gone = await api.delete(f"{PREFIX}/keys/nokey?reason=a%00", headers=admin)
    assert gone.status_code == 400 and gone.json()["error"]["param"] == "reason"
    deep = b'{"definition": ' + b"[" * 5000 + b"]" * 5000 + b', "reason": "r"}'
    r = await api.put(f"{PREFIX}/flags/bot.deep", content=deep,
                      headers={**admin, "content-type": "application/json"})
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"]
    fine = await api.put(f"{PREFIX}/flags/bot.ok", headers=admin,
                         json={"definition": {"type": "string", "default": "ü 😀"}, "reason": "r"})
    assert fine.status_code == 201, fine.text


SHADOW = {"feature": "support-bot", "candidates": ["candidate"], "sample": 10,
          "budget": {"usd_per_day": 1}}
PLAN_STEP = {"weight": 100}
EXPERIMENT = {"feature": "support-bot", "primary": "feedback:thumbs_up",
              "arms": [{"name": "control", "release": "production"},
                       {"name": "fresh", "release": "candidate"}]}
# A JSON client sends JSON types: a string where a boolean or a number is expected is refused
# (pydantic's lax mode took "yes", "1" and "true" as true and "5" as 5), whatever the string.
# A field of the body is the error's param, one inside a definition or plan too (its path:
# `definition.arms.0.weight`); the message leads with the key as a file's error would.
STRING_FOR_A_TYPE = [
    ("PUT", "/features/support-bot/channels/production",
     {"release": "x", "reason": "r", "skip_gate": "yes"}, "skip_gate"),
    ("PUT", "/flags/bot.on", {"definition": {"type": "bool", "default": True}, "reason": "r",
                              "skip_gate": "true"}, "skip_gate"),
    ("POST", "/flag-files", {"definitions": [], "reason": "r", "dry_run": "1"}, "dry_run"),
    ("POST", "/flag-files", {"definitions": [], "reason": "r", "force": "false"}, "force"),
    ("POST", "/rollouts/support-bot", {"candidate": "x", "reason": "r", "skip_gate": "on"},
     "skip_gate"),
    ("POST", "/experiments/e", {"reason": "r", "skip_gate": "yes"}, "skip_gate"),
    ("POST", "/experiments/e", {"definition": {**EXPERIMENT, "alpha": "0.05"}, "reason": "r"},
     "definition.alpha"),
    ("POST", "/experiments/e", {"definition": {**EXPERIMENT, "arms": [
        {"name": "control", "release": "production", "weight": "50"},
        {"name": "fresh", "release": "candidate", "weight": 50}]}, "reason": "r"},
     "definition.arms.0.weight"),
    ("POST", "/shadows/tone", {"definition": {**SHADOW, "keep_text": "yes"}, "reason": "r"},
     "definition.keep_text"),
    ("POST", "/shadows/tone", {"definition": {**SHADOW, "budget": {"usd_per_day": "5"}},
                               "reason": "r"}, "definition.budget.usd_per_day"),
    ("POST", "/rollouts/support-bot", {"candidate": "x", "reason": "r", "plan": {
        "steps": [{**PLAN_STEP, "approval": "true"}]}}, "plan.steps.0.approval"),
    ("POST", "/rollouts/support-bot", {"candidate": "x", "reason": "r", "plan": {
        "steps": [PLAN_STEP], "alpha": "0.05"}}, "plan.alpha"),
    ("POST", "/rollouts/support-bot", {"candidate": "x", "reason": "r", "plan": {
        "steps": [PLAN_STEP], "requires": {"shadow": "tone", "min_pairs": "500"}}},
     "plan.requires.min_pairs"),
]


@pytest.mark.parametrize(("method", "path", "body", "param"), STRING_FOR_A_TYPE,
                         ids=[f"{m} {p} {param}" for m, p, _, param in STRING_FOR_A_TYPE])
async def test_a_string_for_a_boolean_or_a_number_is_a_400_naming_the_field(
    api: httpx.AsyncClient, keys: Keys, store: Store,
    method: str, path: str, body: dict[str, Any], param: str,
) -> None:
    version, audits = store.control_version(), len(store.list_audit(limit=1000))
    r = await api.request(method, PREFIX + path, json=body, headers=keys.headers("admin"))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param, error
    assert store.control_version() == version and len(store.list_audit(limit=1000)) == audits
