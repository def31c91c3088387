"""Publishing and finding releases: idempotent, immutable, refs resolve or fail clearly."""

from __future__ import annotations

import pytest
from store_helpers import digest_of, publish, texts_sharing_prefix

from rampway.errors import ConfigError, RefError, StoreError
from rampway.store import Store


def test_publish_is_idempotent(store: Store) -> None:
    digest = digest_of("v1")
    release_id = f"support-bot@{digest[:8]}"

    assert store.publish("support-bot", digest, release_id, "v1", actor="ana",
                         reason="test") is True
    assert store.publish("support-bot", digest, release_id, "v1", actor="bob",
                         reason="test") is False

    [record] = store.list_releases("support-bot")
    assert (record.release_id, record.digest, record.canonical) == (release_id, digest, "v1")
    assert record.created_by == "ana"
    assert record.created_at.tzinfo is not None
    assert [e.action for e in store.list_audit()] == ["release.publish"]


def test_publish_bumps_control_version_only_when_new(store: Store) -> None:
    publish(store, "support-bot", "v1")
    after_first = store.control_version()
    publish(store, "support-bot", "v1")
    assert after_first == 1
    assert store.control_version() == after_first


def test_same_digest_with_different_content_is_refused(store: Store) -> None:
    digest = digest_of("v1")
    release_id = f"support-bot@{digest[:8]}"
    store.publish("support-bot", digest, release_id, "v1", actor="ana", reason="test")

    with pytest.raises(StoreError, match="different canonical content"):
        store.publish("support-bot", digest, release_id, "tampered", actor="eve", reason="test")

    assert store.get_release("support-bot", release_id).canonical == "v1"
    assert len(store.list_audit()) == 1


def test_short_id_clash_with_another_digest_is_refused(store: Store) -> None:
    first, second = texts_sharing_prefix(4)
    d1, d2 = digest_of(first), digest_of(second)
    store.publish("bot", d1, f"bot@{d1[:4]}", first, actor="ana", reason="test")

    with pytest.raises(StoreError, match="already names another release"):
        store.publish("bot", d2, f"bot@{d2[:4]}", second, actor="ana", reason="test")
    assert store.publish("bot", d2, f"bot@{d2[:8]}", second, actor="ana", reason="test") is True


@pytest.mark.parametrize(
    ("feature", "digest", "release_id", "message"),
    [
        ("bot", "abc", "bot@abc", "digest must be 64"),
        ("bot", "A" * 64, "bot@AAAA", "digest must be 64"),
        ("bot", "a" * 64, "other@aaaaaaaa", "must read bot@"),
        ("bot", "a" * 64, "bot@bbbbbbbb", "must read bot@"),
        ("bot", "a" * 64, "bot@aaa", "must read bot@"),
        ("", "a" * 64, "@aaaaaaaa", "invalid feature name"),
        ("my bot", "a" * 64, "my bot@aaaaaaaa", "invalid feature name"),
    ],
)
def test_publish_rejects_malformed_records(
    store: Store, feature: str, digest: str, release_id: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        store.publish(feature, digest, release_id, "text", actor="ana", reason="test")
    assert store.list_features() == []


def test_get_release_by_id_prefix_and_digest(store: Store) -> None:
    release_id = publish(store, "support-bot", "v1")
    digest = digest_of("v1")

    for ref in (release_id, f"support-bot@{digest[:5]}", digest[:4], digest[:12].upper(), digest):
        assert store.get_release("support-bot", ref).release_id == release_id


def test_ambiguous_prefix_names_the_candidates(store: Store) -> None:
    first, second = texts_sharing_prefix(4)
    id1, id2 = publish(store, "bot", first), publish(store, "bot", second)
    prefix = digest_of(first)[:4]

    with pytest.raises(RefError, match="ambiguous") as caught:
        store.get_release("bot", prefix)
    assert id1 in str(caught.value) and id2 in str(caught.value)
    assert "'bot'" in str(caught.value)
    assert store.get_release("bot", id1).canonical == first


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("ffff0000", "no release 'ffff0000' of feature 'support-bot'"),
        ("support-bot@ffff0000", "no release"),
        ("abc", "at least 4"),
        ("", "unknown release"),
        ("production", "unknown release 'production'"),
        ("other-bot@{short}", "not a release of feature 'support-bot'"),
        ("support-bot@xyz1", "unknown release"),
    ],
)
def test_bad_refs_raise_ref_error_naming_feature_and_ref(
    store: Store, ref: str, message: str
) -> None:
    release_id = publish(store, "support-bot", "v1")
    ref = ref.format(short=release_id.split("@")[1])
    with pytest.raises(RefError, match=message):
        store.get_release("support-bot", ref)


def test_refs_do_not_cross_features(store: Store) -> None:
    publish(store, "support-bot", "same text")
    with pytest.raises(RefError):
        store.get_release("extractor", digest_of("same text")[:8])


def test_list_releases_newest_first_and_features_sorted(store: Store) -> None:
    ids = [publish(store, "support-bot", f"v{n}") for n in range(3)]
    publish(store, "extractor", "x1")

    assert [r.release_id for r in store.list_releases("support-bot")] == ids[::-1]
    assert store.list_releases("nobody") == []
    assert store.list_features() == ["extractor", "support-bot"]
