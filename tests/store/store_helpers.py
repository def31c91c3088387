"""Small builders for store tests (real sha256 digests, ids shaped like the release module's)."""

from __future__ import annotations

import hashlib
from itertools import count

from rampway.store import Store


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def publish(store: Store, feature: str, text: str, *, actor: str = "ana") -> str:
    """Publish `text` as a release of `feature`; returns its release id."""
    digest = digest_of(text)
    release_id = f"{feature}@{digest[:8]}"
    store.publish(feature, digest, release_id, text, actor=actor, reason="test")
    return release_id


def texts_sharing_prefix(prefix_len: int = 4) -> tuple[str, str]:
    """Two different texts whose digests share the first `prefix_len` hex characters."""
    seen: dict[str, str] = {}
    for n in count():
        text = f"release text {n}"
        key = digest_of(text)[:prefix_len]
        if key in seen:
            return seen[key], text
        seen[key] = text
    raise AssertionError("unreachable")
