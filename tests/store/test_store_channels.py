"""Channel moves: history, audit and control version written together; stale writes refused."""

from __future__ import annotations

import pytest
from store_helpers import publish

from rampway.errors import ConfigError, ConflictError, RefError
from rampway.store import Store


@pytest.fixture
def ids(store: Store) -> list[str]:
    """Three releases of support-bot, A, B, C."""
    return [publish(store, "support-bot", f"prompt v{n}") for n in (1, 2, 3)]


def test_set_channel_writes_pointer_history_audit_and_bumps_control(
    store: Store, ids: list[str]
) -> None:
    before = store.control_version()
    first = store.set_channel("support-bot", "production", ids[0], actor="ana", reason="launch")
    second = store.set_channel(
        "support-bot", "production", ids[1][:16], actor="bob", reason="better tone"
    )

    assert (first.version, second.version) == (1, 2)
    assert store.get_channel("support-bot", "production") == second
    assert store.control_version() == before + 2

    newest, oldest = store.channel_history("support-bot", "production")
    assert (oldest.from_release, oldest.to_release, oldest.seq) == (None, ids[0], 1)
    assert (newest.from_release, newest.to_release, newest.seq) == (ids[0], ids[1], 2)
    assert (newest.actor, newest.reason, newest.kind) == ("bob", "better tone", "set")

    audit = store.list_audit(object_type="channel", object_id="support-bot/production")
    assert [a.action for a in audit] == ["channel.set", "channel.set"]
    assert audit[0].before == {"release_id": ids[0], "version": 1}
    assert audit[0].after == {"release_id": ids[1], "version": 2}
    assert (audit[0].actor, audit[0].reason) == ("bob", "better tone")


def test_stale_expected_version_is_a_conflict_and_writes_nothing(
    store: Store, ids: list[str]
) -> None:
    store.set_channel("support-bot", "production", ids[0], actor="ana", reason="r")
    store.set_channel("support-bot", "production", ids[1], actor="ana", reason="r")
    control = store.control_version()

    with pytest.raises(ConflictError) as caught:
        store.set_channel(
            "support-bot", "production", ids[2], actor="bob", reason="r", expected_version=1
        )

    assert str(caught.value) == (
        "channel production of support-bot moved since you read it (version 1, now 2)"
    )
    assert store.get_channel("support-bot", "production").release_id == ids[1]  # type: ignore[union-attr]
    assert len(store.channel_history("support-bot")) == 2
    assert store.control_version() == control


def test_expected_version_matching_succeeds_and_zero_means_new(
    store: Store, ids: list[str]
) -> None:
    created = store.set_channel(
        "support-bot", "candidate", ids[0], actor="ana", reason="r", expected_version=0
    )
    moved = store.set_channel(
        "support-bot", "candidate", ids[1], actor="ana", reason="r", expected_version=1
    )
    assert (created.version, moved.version) == (1, 2)
    with pytest.raises(ConflictError, match="version 0, now 2"):
        store.set_channel(
            "support-bot", "candidate", ids[2], actor="ana", reason="r", expected_version=0
        )


def test_unknown_release_is_a_ref_error_and_writes_nothing(store: Store, ids: list[str]) -> None:
    control = store.control_version()
    other = publish(store, "extractor", "x")
    with pytest.raises(RefError, match="support-bot"):
        store.set_channel("support-bot", "production", "deadbeef", actor="ana", reason="r")
    with pytest.raises(RefError, match="not a release of feature 'support-bot'"):
        store.set_channel("support-bot", "production", other, actor="ana", reason="r")
    with pytest.raises(RefError):
        store.set_channel("nobody", "production", ids[0], actor="ana", reason="r")

    assert store.get_channel("support-bot", "production") is None
    assert store.channel_history("support-bot") == []
    assert store.control_version() == control + 1  # only the extractor publish


@pytest.mark.parametrize(
    ("channel", "actor", "message"),
    [("", "ana", "invalid channel"), ("prod/eu", "ana", "invalid channel"), ("p", " ", "actor")],
)
def test_bad_channel_or_actor_is_a_config_error(
    store: Store, ids: list[str], channel: str, actor: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        store.set_channel("support-bot", channel, ids[0], actor=actor, reason="r")
    assert store.list_channels() == []


def test_rollback_walks_back_through_previous_releases(store: Store, ids: list[str]) -> None:
    a, b, c = ids
    for target in (a, b, c):
        store.set_channel("support-bot", "production", target, actor="ana", reason="ship")

    first = store.rollback("support-bot", actor="bob", reason="tone regressed")
    second = store.rollback("support-bot", actor="bob", reason="still bad")

    assert (first.release_id, first.version) == (b, 4)
    assert (second.release_id, second.version) == (a, 5)
    with pytest.raises(RefError, match="nothing to roll back to"):
        store.rollback("support-bot", actor="bob", reason="again")

    latest = store.channel_history("support-bot", "production", limit=2)
    assert [(m.kind, m.from_release, m.to_release) for m in latest] == [
        ("rollback", b, a),
        ("rollback", c, b),
    ]
    assert store.list_audit(limit=1)[0].action == "channel.rollback"


def test_rollback_after_a_new_set_returns_to_the_release_before_it(
    store: Store, ids: list[str]
) -> None:
    a, b, c = ids
    store.set_channel("support-bot", "production", a, actor="ana", reason="r")
    store.set_channel("support-bot", "production", b, actor="ana", reason="r")
    store.rollback("support-bot", actor="ana", reason="r")
    store.set_channel("support-bot", "production", c, actor="ana", reason="r")

    assert store.rollback("support-bot", actor="ana", reason="r").release_id == a


def test_rollback_without_history_or_channel_is_a_ref_error(store: Store, ids: list[str]) -> None:
    with pytest.raises(RefError, match="unknown channel 'production'"):
        store.rollback("support-bot", actor="ana", reason="r")
    store.set_channel("support-bot", "candidate", ids[0], actor="ana", reason="r")
    store.set_channel("support-bot", "candidate", ids[0], actor="ana", reason="same again")
    with pytest.raises(RefError, match="nothing to roll back to"):
        store.rollback("support-bot", "candidate", actor="ana", reason="r")


def test_rollback_with_stale_expected_version_is_a_conflict_and_writes_nothing(
    store: Store, ids: list[str]
) -> None:
    a, b, c = ids
    for target in (a, b, c):
        store.set_channel("support-bot", "production", target, actor="ana", reason="ship")
    control, audit = store.control_version(), len(store.list_audit(limit=1000))

    with pytest.raises(ConflictError) as caught:
        store.rollback("support-bot", actor="bob", reason="r", expected_version=2)

    assert str(caught.value) == (
        "channel production of support-bot moved since you read it (version 2, now 3)"
    )
    assert store.get_channel("support-bot", "production").release_id == c  # type: ignore[union-attr]
    assert len(store.channel_history("support-bot")) == 3
    assert len(store.list_audit(limit=1000)) == audit
    assert store.control_version() == control


def test_rollback_with_current_expected_version_moves_and_channel_move_finds_it(
    store: Store, ids: list[str]
) -> None:
    a, b, _ = ids
    store.set_channel("support-bot", "production", a, actor="ana", reason="r")
    store.set_channel("support-bot", "production", b, actor="ana", reason="r")

    state = store.rollback("support-bot", actor="bob", reason="r", expected_version=2)

    assert (state.release_id, state.version) == (a, 3)
    move = store.channel_move("support-bot", "production", 3)
    assert move is not None and (move.kind, move.from_release, move.to_release) == (
        "rollback", b, a)
    assert store.channel_move("support-bot", "production", 4) is None
    with pytest.raises(RefError, match="unknown channel"):
        store.rollback("support-bot", "nope", actor="bob", reason="r", expected_version=1)


def test_history_and_listing_filter_by_feature_and_channel(store: Store, ids: list[str]) -> None:
    x = publish(store, "extractor", "x")
    store.set_channel("support-bot", "production", ids[0], actor="ana", reason="r")
    store.set_channel("support-bot", "candidate", ids[1], actor="ana", reason="r")
    store.set_channel("extractor", "production", x, actor="ana", reason="r")

    assert [m.channel for m in store.channel_history("support-bot")] == ["candidate", "production"]
    assert len(store.channel_history("support-bot", "candidate")) == 1
    assert len(store.channel_history("support-bot", limit=1)) == 1
    assert [(c.feature, c.channel) for c in store.list_channels()] == [
        ("extractor", "production"),
        ("support-bot", "candidate"),
        ("support-bot", "production"),
    ]
    assert [c.channel for c in store.list_channels("extractor")] == ["production"]
    with pytest.raises(ConfigError, match="limit"):
        store.channel_history("support-bot", limit=0)


def test_record_audit_joins_the_callers_transaction(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction() as conn:
        store.record_audit(
            actor="ana", action="flag.set", object_type="flag", object_id="kill",
            before=None, after={"on": True}, reason="r", conn=conn,
        )
        store.bump_control_version(conn)
        raise Boom

    assert store.list_audit() == []
    assert store.control_version() == 0

    with store.transaction() as conn:
        store.record_audit(
            actor="ana", action="flag.set", object_type="flag", object_id="kill",
            before={"on": False}, after={"on": True, "cohorts": ["beta"]}, reason="r", conn=conn,
        )
        assert store.bump_control_version(conn) == 1
    [entry] = store.list_audit(object_type="flag")
    assert entry.after == {"on": True, "cohorts": ["beta"]}
    assert store.list_audit(object_id="other") == []
    store.record_audit(
        actor="ana", action="x", object_type="flag", object_id="y",
        before=None, after=None, reason="test",
    )
    assert len(store.list_audit()) == 2
