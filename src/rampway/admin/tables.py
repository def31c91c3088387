"""Admin API keys (revision `flags_0001` creates this table together with the flag tables).

Separate from the gateway's app keys (`app_keys`): an app key lets an application call
features; an admin key lets a person or CI change control state, with a role. Only the SHA-256
of a key is stored (`rampway.gateway.keys.hash_key`, the same hashing as app keys).
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from rampway.store.schema import NAME, UTCDateTime, metadata

admin_keys = Table(
    "admin_keys",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(NAME), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

__all__ = ["admin_keys"]
