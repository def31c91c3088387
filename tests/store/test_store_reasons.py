"""Every audited write that changes what users get refuses a blank reason, on SQLite and
PostgreSQL: `ReasonRequired` (422 `reason_required`, `param: reason`), nothing written, nothing
audited, the control version unmoved — the one rule every road (CLI, admin API, dashboard)
inherits from the store."""

from __future__ import annotations

import hashlib

import pytest

from rampway.admin import Role, create_admin_key, list_admin_keys, revoke_admin_key
from rampway.errors import ConfigError, ReasonRequired
from rampway.flags.store import FileDefinitions, FlagStore
from rampway.gateway.keys import create_key, list_keys, revoke_key
from rampway.store import Store

BLANK = ["", "   ", "\t\n"]


def _publish(store: Store, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    release_id = f"bot@{digest[:8]}"
    store.publish("bot", digest, release_id, text, actor="test", reason="test")
    return release_id


def _trace(store: Store) -> tuple[int, int]:
    return store.control_version(), len(store.list_audit(limit=10_000))


@pytest.mark.parametrize("blank", BLANK)
def test_flag_writes_refuse_a_blank_reason_and_write_nothing(store: Store, blank: str) -> None:
    flags = FlagStore(store)
    flags.put("flag", "bot.enabled", {"type": "bool", "default": True}, actor="a", reason="add")
    before = _trace(store)
    with pytest.raises(ReasonRequired, match="writing flag 'bot.enabled' needs a reason") as put:
        flags.put("flag", "bot.enabled", {"type": "bool", "default": False}, actor="a",
                  reason=blank)
    assert (put.value.http_status, put.value.code, put.value.param) == (
        422, "reason_required", "reason")
    assert isinstance(put.value, ConfigError)  # the CLI's bad input: one line, exit 2
    with pytest.raises(ReasonRequired, match="deleting flag 'bot.enabled'"):
        flags.delete("flag", "bot.enabled", actor="a", reason=blank)
    files = FileDefinitions({("flag", "bot.max_tokens"): ({"type": "number", "default": 9},
                                                           "flags/bot.yaml")})
    with pytest.raises(ReasonRequired, match="pushing flag files"):
        flags.push(files, actor="ci", reason=blank)
    assert _trace(store) == before
    assert flags.get("flag", "bot.enabled").definition["default"] is True  # type: ignore[union-attr]


@pytest.mark.parametrize("blank", BLANK)
def test_channel_moves_refuse_a_blank_reason_and_write_nothing(store: Store, blank: str) -> None:
    v1, v2 = _publish(store, "v1"), _publish(store, "v2")
    store.set_channel("bot", "production", v1, actor="a", reason="first")
    store.set_channel("bot", "production", v2, actor="a", reason="second")
    before = _trace(store)
    with pytest.raises(ReasonRequired, match="moving channel production of bot needs a reason"):
        store.set_channel("bot", "production", v1, actor="a", reason=blank)
    with pytest.raises(ReasonRequired, match="rolling back channel production of bot"):
        store.rollback("bot", "production", actor="a", reason=blank)
    assert _trace(store) == before
    assert store.get_channel("bot", "production").release_id == v2  # type: ignore[union-attr]


@pytest.mark.parametrize("blank", BLANK)
def test_publishing_refuses_a_blank_reason_and_writes_nothing(store: Store, blank: str) -> None:
    _publish(store, "v1")
    before = _trace(store)
    digest = hashlib.sha256(b"v2").hexdigest()
    with pytest.raises(ReasonRequired, match=f"publishing bot@{digest[:8]} needs a reason"):
        store.publish("bot", digest, f"bot@{digest[:8]}", "v2", actor="a", reason=blank)
    assert _trace(store) == before and len(store.list_releases("bot")) == 1


@pytest.mark.parametrize("blank", BLANK)
def test_key_writes_refuse_a_blank_reason_and_write_nothing(store: Store, blank: str) -> None:
    create_admin_key(store, "ana", Role.ADMIN, actor="setup", reason="bootstrap")
    create_key(store, "web", features=None, actor="ana", reason="web app")
    before = _trace(store)
    with pytest.raises(ReasonRequired, match="creating admin key 'ci' needs a reason"):
        create_admin_key(store, "ci", Role.EDITOR, actor="ana", reason=blank)
    with pytest.raises(ReasonRequired, match="revoking admin key 'ana' needs a reason"):
        revoke_admin_key(store, "ana", actor="ana", reason=blank)
    with pytest.raises(ReasonRequired, match="creating app key 'mobile' needs a reason"):
        create_key(store, "mobile", features=None, actor="ana", reason=blank)
    with pytest.raises(ReasonRequired, match="revoking app key 'web' needs a reason") as revoke:
        revoke_key(store, "web", actor="ana", reason=blank)
    assert (revoke.value.http_status, revoke.value.param) == (422, "reason")
    assert _trace(store) == before
    assert [k.name for k in list_admin_keys(store)] == ["ana"]
    assert [k.name for k in list_keys(store)] == ["web"]
