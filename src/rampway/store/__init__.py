"""The rampway store: releases, channels, history, audit log and control state in SQL.

SQLite by default (`.rampway/rampway.db`), PostgreSQL when several gateways share state. The
schema lives in `rampway.store.schema` (one `metadata`); migrations in `migrations/versions/`
run automatically when a store is opened:

    store = Store.open(resolve_url(project_root, config.db_url))
    store.publish("support-bot", digest, "support-bot@3f2a9c1e", canonical, actor="ana")
    store.set_channel("support-bot", "production", "support-bot@3f2a", actor="ana", reason="v2")

Database errors never escape as SQLAlchemy exceptions: they arrive as `StoreError` (or
`ConflictError` for a lost optimistic-concurrency race), unknown refs as `RefError`.
"""

from rampway.store._migrate import alembic_config, current_revisions, head_revisions, upgrade
from rampway.store._records import AuditEntry, ChannelMove, ChannelState, ReleaseRecord
from rampway.store._rollback import rollback_target
from rampway.store._store import Store
from rampway.store._url import default_url, parse_url, resolve_url

__all__ = [
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
]
