"""The public surface of rampway.store is exactly what other areas are meant to use."""

from __future__ import annotations

import rampway.store


def test_exported_members() -> None:
    assert set(rampway.store.__all__) == {
        "AuditEntry",
        "ChannelMove",
        "ChannelState",
        "ReleaseRecord",
        "Store",
        "alembic_config",
        "current_revisions",
        "default_url",
        "head_revisions",
        "parse_url",
        "resolve_url",
        "rollback_target",
        "upgrade",
    }
    for name in rampway.store.__all__:
        assert getattr(rampway.store, name) is not None
