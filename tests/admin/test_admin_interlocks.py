"""The admin API obeys the same interlocks as the CLI: unroutable models and protected channels
are refused with 422 and the same one-line message, nothing written, nothing audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from admin_helpers import Keys
from gateway_helpers import SYSTEM_V2, Proj, support_spec, write_release

from rampway.admin import PREFIX
from rampway.release import Release, load_release
from rampway.store import Store

BOT = "support-bot"
PRODUCTION = f"{PREFIX}/features/{BOT}/channels/production"


def _release(tmp_path: Path, model: str, note: str) -> Release:
    directory = write_release(tmp_path / note, BOT, support_spec(model),
                              {"prompts/system.md": SYSTEM_V2 + note})
    return load_release(directory, feature=BOT)


def _state(store: Store) -> tuple[Any, int, int]:
    return (store.get_channel(BOT, "production"), len(store.list_audit(limit=10_000)),
            store.control_version())


def _unprocessable(r: httpx.Response, code: str, *fragments: str) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    assert "\n" not in error["message"]
    for fragment in fragments:
        assert fragment in error["message"], error["message"]


async def test_publishing_an_unroutable_release_is_422_and_writes_nothing(
    api: httpx.AsyncClient, keys: Keys, store: Store, tmp_path: Path
) -> None:
    bad = _release(tmp_path, "sim-hugee", "typo")
    releases, before = len(store.list_releases(BOT)), _state(store)
    r = await api.post(f"{PREFIX}/features/{BOT}/releases", headers=keys.headers("editor"),
                       json={"canonical": bad.canonical, "reason": "bigger"})
    _unprocessable(r, "unroutable_model", "support-bot (model): model sim/sim-hugee",
                   "no catalog entry")
    assert len(store.list_releases(BOT)) == releases and _state(store) == before


async def test_a_stored_release_that_cannot_be_routed_never_reaches_a_channel(
    api: httpx.AsyncClient, keys: Keys, store: Store, tmp_path: Path
) -> None:
    bad = _release(tmp_path, "sim-hugee", "old")  # published before the model was checked
    store.publish(BOT, bad.digest, bad.id, bad.canonical, actor="legacy", reason="test")
    r = await api.put(f"{PREFIX}/features/{BOT}/channels/canary",
                      headers=keys.headers("editor"), json={"release": bad.id, "reason": "try"})
    _unprocessable(r, "unroutable_model", "sim/sim-hugee")
    assert store.get_channel(BOT, "canary") is None


async def test_production_refuses_an_ungated_release_a_minute_after_it_was_created(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj, tmp_path: Path
) -> None:
    new = _release(tmp_path, "sim-small", "api-edit")
    created = await api.post(f"{PREFIX}/features/{BOT}/releases", headers=keys.headers("editor"),
                             json={"canonical": new.canonical, "reason": "tweak"})
    assert created.status_code == 201, created.text
    before = _state(store)
    r = await api.put(PRODUCTION, headers=keys.headers("editor"),
                      json={"release": new.id, "reason": "ship"})
    _unprocessable(r, "channel_protected", "channel 'production' of support-bot is protected",
                   f"candidate {new.id} has no recorded gate", "rampway gate support-bot")
    assert _state(store) == before
    by_editor = await api.put(PRODUCTION, headers=keys.headers("editor"),
                              json={"release": new.id, "reason": "ship", "skip_gate": True})
    assert by_editor.status_code == 403 and _state(store) == before
    by_admin = await api.put(PRODUCTION, headers=keys.headers("admin"),
                             json={"release": new.id, "reason": "gate infra down",
                                   "skip_gate": True})
    assert by_admin.status_code == 200 and by_admin.json()["release_id"] == new.id
    skipped = store.list_audit(object_type="channel", object_id=f"{BOT}/production")
    assert [(a.actor, a.reason) for a in skipped if a.action == "channel.skip_gate"] == [
        ("admin-key", "gate infra down")]
    back = await api.post(f"{PRODUCTION}/rollback", headers=keys.headers("editor"),
                          json={"reason": "never blocked"})
    assert back.status_code == 200 and back.json()["release_id"] == proj.v1.id


async def test_unprotected_channels_move_freely(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    path = f"{PREFIX}/features/{BOT}/channels/canary"
    for release in (proj.v1.id, proj.v2.id):
        r = await api.put(path, headers=keys.headers("editor"),
                          json={"release": release, "reason": "try"})
        assert r.status_code == 200, r.text


async def test_a_model_flag_no_provider_can_serve_is_422_naming_flag_and_rule(
    api: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    before = store.control_version()
    definition = {"type": "string", "default": "sim-large",
                  "rules": [{"condition": {"plan": "free"}, "value": "sim/sim-huge"}]}
    r = await api.put(f"{PREFIX}/flags/{BOT}.model", headers=keys.headers("editor"),
                      json={"definition": definition, "reason": "bigger"})
    _unprocessable(r, "unroutable_model", "flag 'support-bot.model' rule 0",
                   "'sim/sim-huge'", "no catalog entry")
    assert r.json()["error"]["flag"] == f"{BOT}.model" and r.json()["error"]["rule"] == 0
    assert store.control_version() == before
    definition["rules"][0]["value"] = "sim/sim-large"  # production's own: nothing to gate
    ok = await api.put(f"{PREFIX}/flags/{BOT}.model", headers=keys.headers("editor"),
                       json={"definition": definition, "reason": "smaller"})
    assert ok.status_code == 201, ok.text


async def test_an_experiment_arm_that_cannot_be_routed_is_refused(
    api: httpx.AsyncClient, keys: Keys, store: Store, tmp_path: Path
) -> None:
    bad = _release(tmp_path, "sim-hugee", "arm")
    store.publish(BOT, bad.digest, bad.id, bad.canonical, actor="legacy", reason="test")
    definition = {"feature": BOT, "primary": "feedback:thumbs_up",
                  "arms": [{"name": "control", "release": "production"},
                           {"name": "huge", "release": bad.id}]}
    r = await api.post(f"{PREFIX}/experiments/huge", headers=keys.headers("editor"),
                       json={"definition": definition, "reason": "try"})
    _unprocessable(r, "unroutable_model", "sim/sim-hugee")
    assert (await api.get(f"{PREFIX}/experiments", headers=keys.headers("viewer"))).json()[
        "experiments"] == []


# -- every other road: rollout starts, release-pinning flags, audited flag writes ---------------


async def test_a_published_rollout_candidate_that_cannot_be_routed_is_refused(
    api: httpx.AsyncClient, keys: Keys, store: Store, tmp_path: Path
) -> None:
    bad = _release(tmp_path, "sim-hugee", "roll")  # published before the model was checked
    store.publish(BOT, bad.digest, bad.id, bad.canonical, actor="legacy", reason="test")
    before = _state(store)
    r = await api.post(f"{PREFIX}/rollouts/{BOT}", headers=keys.headers("admin"),
                       json={"candidate": bad.id, "skip_gate": True, "reason": "try it"})
    _unprocessable(r, "unroutable_model", "sim/sim-hugee")
    assert _state(store) == before
    assert (await api.get(f"{PREFIX}/rollouts", headers=keys.headers("viewer"))).json()[
        "rollouts"] == []


async def test_a_release_flag_cannot_pin_an_ungated_release_past_production(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    """Pinning is a channel move by other means: what production needs (a gate PASS against
    what it serves), a `.release` flag needs too — by id, or through an unprotected channel."""
    flag = f"{PREFIX}/flags/{BOT}.release"
    before = _state(store)
    pinned = {"type": "string", "default": proj.v2.id}
    r = await api.put(flag, headers=keys.headers("editor"),
                      json={"definition": pinned, "reason": "ship v2"})
    _unprocessable(r, "channel_protected", "flag 'support-bot.release' default",
                   f"candidate {proj.v2.id} has no recorded gate", "rampway gate support-bot")
    assert r.json()["error"]["flag"] == f"{BOT}.release"
    assert _state(store) == before
    canary = await api.put(f"{PREFIX}/features/{BOT}/channels/canary",
                           headers=keys.headers("editor"),
                           json={"release": proj.v2.id, "reason": "try"})
    assert canary.status_code == 200, canary.text
    cohort = {"type": "string", "default": "production",
              "rules": [{"condition": {"plan": "pro"}, "value": "canary"}]}
    r = await api.put(flag, headers=keys.headers("editor"),
                      json={"definition": cohort, "reason": "pro users first"})
    _unprocessable(r, "channel_protected", "rule 0", f"candidate {proj.v2.id}")
    assert r.json()["error"]["rule"] == 0
    current = {"type": "string", "default": proj.v1.id}  # what production serves: fine
    ok = await api.put(flag, headers=keys.headers("editor"),
                       json={"definition": current, "reason": "hold v1"})
    assert ok.status_code == 201, ok.text


async def test_a_release_flag_may_pin_a_gated_release_or_one_production_served_before(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    from test_admin_rollouts import passing_gate

    flag = f"{PREFIX}/flags/{BOT}.release"
    passing_gate(store, proj.v2.id, proj.v1.id, proj.project.root)
    gated = await api.put(flag, headers=keys.headers("editor"),
                          json={"definition": {"type": "string", "default": proj.v2.id},
                                "reason": "gate passed"})
    assert gated.status_code == 201, gated.text
    moved = await api.put(PRODUCTION, headers=keys.headers("editor"),
                          json={"release": proj.v2.id, "reason": "ship"})
    assert moved.status_code == 200, moved.text
    back = await api.put(flag, headers=keys.headers("editor"),  # a rollback is never blocked
                         json={"definition": {"type": "string", "default": proj.v1.id},
                               "reason": "v2 regressed"}, )
    assert back.status_code == 200, back.text


async def test_promoting_a_candidate_whose_provider_left_rampway_yaml_is_refused(
    api: httpx.AsyncClient, keys: Keys, store: Store, proj: Proj
) -> None:
    """Started while routable; then the provider is renamed in rampway.yaml. A promote is a
    channel move: refused (422) like `channel set`, production untouched."""
    started = await api.post(f"{PREFIX}/rollouts/{BOT}", headers=keys.headers("admin"),
                             json={"candidate": proj.v2.id, "skip_gate": True,
                                   "reason": "try it"})
    assert started.status_code == 201, started.text
    config = proj.project.root / "rampway.yaml"
    config.write_text(config.read_text().replace("  sim:\n", "  sim2:\n", 1))
    before = store.get_channel(BOT, "production")
    r = await api.post(f"{PREFIX}/rollouts/{BOT}/promote", headers=keys.headers("editor"),
                       json={"reason": "looks fine"})
    _unprocessable(r, "unroutable_model", "provider 'sim'", "not configured")
    assert store.get_channel(BOT, "production") == before
