"""Optimistic concurrency (ETag / If-Match → 409) and bad input (4xx JSON, nothing written)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from admin_helpers import Keys
from gateway_helpers import Proj

from rampway.admin import PREFIX
from rampway.store import Store

BOOL_ON = {"type": "bool", "default": True}


async def _put_flag(api: httpx.AsyncClient, keys: Keys, key: str, definition: Any,
                    **headers: str) -> httpx.Response:
    return await api.put(f"{PREFIX}/flags/{key}", json={"definition": definition, "reason": "t"},
                         headers={**keys.headers("editor"), **headers})


async def test_flag_etag_round_trip_and_stale_write_is_409(
    api: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    created = await _put_flag(api, keys, "bot.enabled", BOOL_ON, **{"if-match": '"0"'})
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    again = await _put_flag(api, keys, "bot.enabled", BOOL_ON, **{"if-match": '"0"'})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    got = await api.get(f"{PREFIX}/flags/bot.enabled", headers=keys.headers("viewer"))
    etag = got.headers["etag"]
    off = {"type": "bool", "default": False}
    first = await _put_flag(api, keys, "bot.enabled", off, **{"if-match": etag})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    version, audits = store.control_version(), len(store.list_audit(limit=1000))
    stale = await _put_flag(api, keys, "bot.enabled", BOOL_ON, **{"if-match": etag})
    assert stale.status_code == 409
    stale_delete = await api.delete(f"{PREFIX}/flags/bot.enabled?reason=cleanup",
                                    headers={**keys.headers("editor"), "if-match": etag})
    assert stale_delete.status_code == 409
    assert store.control_version() == version and len(store.list_audit(limit=1000)) == audits
    now = await api.get(f"{PREFIX}/flags/bot.enabled", headers=keys.headers("viewer"))
    assert now.json()["definition"]["default"] is False and now.json()["version"] == 2
    weak = await _put_flag(api, keys, "bot.enabled", BOOL_ON, **{"if-match": 'W/"2"'})
    assert weak.status_code == 200


async def test_channel_and_rollback_stale_etag_is_409(
    api: httpx.AsyncClient, keys: Keys, proj: Proj, store: Store
) -> None:
    path = f"{PREFIX}/features/support-bot/channels/production"
    etag = (await api.get(path, headers=keys.headers("viewer"))).headers["etag"]
    moved = await api.put(path, json={"release": proj.v2.id, "reason": "ship", "skip_gate": True},
                          headers={**keys.headers("admin"), "if-match": etag})
    assert moved.status_code == 200 and moved.json()["release_id"] == proj.v2.id
    stale = await api.put(path, json={"release": proj.v1.id, "reason": "again"},
                          headers={**keys.headers("editor"), "if-match": etag})
    assert stale.status_code == 409
    stale_rb = await api.post(f"{path}/rollback", json={"reason": "x"},
                              headers={**keys.headers("editor"), "if-match": etag})
    assert stale_rb.status_code == 409 and stale_rb.json()["error"]["code"] == "conflict"
    assert store.get_channel("support-bot", "production").release_id == proj.v2.id  # type: ignore[union-attr]
    assert len(store.channel_history("support-bot", "production")) == 2
    rb = await api.post(f"{path}/rollback", json={"reason": "bad answers"},
                        headers={**keys.headers("editor"), "if-match": moved.headers["etag"]})
    assert rb.status_code == 200 and rb.json()["release_id"] == proj.v1.id
    assert moved.json()["previous_release_id"] == proj.v1.id
    assert rb.json()["previous_release_id"] == proj.v2.id and rb.headers["etag"] == '"3"'


async def test_racing_rollbacks_with_one_etag_move_the_channel_once(
    api: httpx.AsyncClient, keys: Keys, proj: Proj, store: Store
) -> None:
    path = f"{PREFIX}/features/support-bot/channels/production"
    for release in (proj.v2.id, proj.v1.id, proj.v2.id):
        store.set_channel("support-bot", "production", release, actor="t", reason="r")
    etag = (await api.get(path, headers=keys.headers("viewer"))).headers["etag"]
    headers = {**keys.headers("editor"), "if-match": etag}
    answers = await asyncio.gather(*(
        api.post(f"{path}/rollback", json={"reason": f"race {n}"}, headers=headers)
        for n in range(6)))
    assert sorted(r.status_code for r in answers) == [200] + [409] * 5
    assert len(store.channel_history("support-bot", "production")) == 5
    audit = store.list_audit(object_type="channel", limit=100)
    assert [a.action for a in audit].count("channel.rollback") == 1


BROKEN: list[tuple[Any, str, str | None]] = [
        ({"type": "bool", "default": True,
          "rules": [{"condition": {"plan": {"$regex": "(["}}, "value": False}]}, "regex",
         "condition.plan.$regex"),
        ({"type": "bool", "default": True,
          "rules": [{"condition": {"plan": {"$between": [1, 2]}}, "value": False}]},
         "$between", None),
        ({"type": "string", "default": "a", "rules": [{"variations": [
            {"value": "a", "weight": 70}, {"value": "b", "weight": 70}]}]}, "100%", None),
        ({"type": "number", "default": "many"}, "type", None),
        ({"type": "bool", "default": True, "rules": [{"segment": "nope", "value": False}]},
         "unknown segment", None),
]


async def test_broken_flag_is_refused_whole_with_a_located_400(
    api: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    assert (await _put_flag(api, keys, "f", BOOL_ON)).status_code == 201
    version = store.control_version()
    for definition, fragment, path in BROKEN:
        r = await _put_flag(api, keys, "f", definition)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_flag" and fragment in error["message"], error
        assert error["flag"] == "f"
        if path is not None:
            assert error["path"] == path and error["rule"] == 0
    kept = await api.get(f"{PREFIX}/flags/f", headers=keys.headers("viewer"))
    assert kept.json()["definition"] == BOOL_ON and store.control_version() == version


BAD_INPUT: list[tuple[str, str, dict[str, Any], int]] = [
        ("PUT", "/flags/f", {"content": b"{not json", "headers": {"content-type":
                                                                   "application/json"}}, 400),
        ("PUT", "/flags/f", {"json": {"definition": {}, "reason": "x", "extra": 1}}, 400),
        ("PUT", "/flags/f", {"json": {"definition": "nope"}}, 400),
        ("PUT", "/flags/bad key", {"json": {"definition": BOOL_ON}}, 400),
        ("PUT", "/flags/f", {"json": {"definition": BOOL_ON}, "headers": {"if-match": "abc"}},
         400),
        ("GET", "/flags/missing", {}, 404),
        ("DELETE", "/segments/missing", {"params": {"reason": "tidy"}}, 404),
        ("DELETE", "/flags/f", {}, 422),  # no reason: refused before the flag is looked up
        ("DELETE", "/flags/f", {"params": {"reason": "  "}}, 422),
        ("GET", "/features/nope", {}, 404),
        ("GET", "/features/support-bot/releases/ffff", {}, 404),
        ("PUT", "/features/support-bot/channels/production",
         {"json": {"release": "support-bot@0000ffff", "reason": "x"}}, 404),
        ("PUT", "/features/support-bot/channels/production", {"json": {"release": "x"}}, 422),
        ("PUT", "/features/support-bot/channels/production",
         {"json": {"release": "x", "reason": " "}}, 422),
        ("PUT", "/flags/f", {"json": {"definition": BOOL_ON}}, 422),
        ("POST", "/features/support-bot/channels/production/rollback",
         {"json": {"reason": "\t"}}, 422),
        ("POST", "/features/support-bot/releases", {"json": {"canonical": "{}", "reason": "x"}},
         400),
        # publishing and key writes are audited like the rest: a blank reason is refused first
        ("POST", "/features/support-bot/releases", {"json": {"canonical": "{}"}}, 422),
        ("POST", "/features/support-bot/releases", {"json": {"canonical": "{}", "reason": " "}},
         422),
        ("POST", "/keys", {"json": {"name": "k", "role": "root"}}, 400),
        ("POST", "/keys", {"json": {"name": "k", "role": "viewer"}}, 422),
        ("POST", "/keys", {"json": {"name": "k", "role": "viewer", "reason": "\n"}}, 422),
        ("DELETE", "/keys/viewer-key", {}, 422),
        ("DELETE", "/keys/viewer-key", {"params": {"reason": " "}}, 422),
        ("POST", "/app-keys", {"json": {"name": "web"}}, 422),
        ("POST", "/app-keys", {"json": {"name": "web", "reason": "\t"}}, 422),
        ("DELETE", "/app-keys/web", {}, 422),
        ("GET", "/audit", {"params": {"limit": 0}}, 400),
        ("GET", "/no-such-route", {}, 404),
]


async def test_bad_input_gets_one_json_error_and_changes_nothing(
    api: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    version, audits = store.control_version(), len(store.list_audit(limit=1000))
    for method, path, params, status in BAD_INPUT:
        kwargs = dict(params)  # shared by both database runs: don't mutate
        headers = {**keys.headers("admin"), **kwargs.pop("headers", {})}
        r = await api.request(method, PREFIX + path, headers=headers, **kwargs)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        error = r.json()["error"]
        assert error["message"] and error["code"]
        if status == 422:  # every blank reason: the same code, naming the field
            assert (error["code"], error["param"]) == ("reason_required", "reason"), error
    assert store.control_version() == version and len(store.list_audit(limit=1000)) == audits


async def test_publishing_a_release_of_another_feature_is_refused(
    api: httpx.AsyncClient, keys: Keys, proj: Proj
) -> None:
    r = await api.post(f"{PREFIX}/features/support-bot/releases",
                       json={"canonical": proj.echo.canonical, "reason": "x"},
                       headers=keys.headers("editor"))
    assert r.status_code == 400 and "echo" in r.json()["error"]["message"]
    same = await api.post(f"{PREFIX}/features/echo/releases",
                          json={"canonical": proj.echo.canonical, "reason": "x"},
                          headers=keys.headers("editor"))
    assert same.status_code == 200 and same.json()["created"] is False
