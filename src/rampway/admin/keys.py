"""Admin API keys with roles: `viewer` reads, `editor` changes control state, `admin` manages keys.

Keys are random 256-bit tokens (`rwa_…`); only their SHA-256 is stored, with the same hashing as
the gateway's app keys (`rampway.gateway.keys.hash_key`). Creating and revoking keys is audited.
The admin API looks a key up on every request (one indexed read), so a revoked key stops working
at once, on every server.

Bootstrapping: the first key is created with direct store access (`rampway api-keys create ana
--role admin --reason bootstrap`); from then on keys can also be managed through the API by an
admin. Creating and revoking need a reason, as every audited write (`rampway._reason`).

Example:
    key, plaintext = create_admin_key(store, "ci", Role.EDITOR, actor="ana", reason="deploys")
    authenticate(store, plaintext).role is Role.EDITOR
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from rampway._reason import require_reason
from rampway.admin.tables import admin_keys
from rampway.errors import AuthenticationError, ConfigError, PermissionDenied, RefError, StoreError
from rampway.gateway.keys import hash_key
from rampway.store import Store

ADMIN_KEY_PREFIX = "rwa_"
_RANK = {"viewer": 0, "editor": 1, "admin": 2}


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return _RANK[self.value] >= _RANK[needed.value]


@dataclass(frozen=True, slots=True)
class AdminKey:
    name: str
    role: Role
    created_at: datetime
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ConfigError(f"unknown role {value!r}: use viewer, editor or admin") from None


def _key(row: sa.Row[Any]) -> AdminKey:
    return AdminKey(row.name, Role(row.role), row.created_at, row.created_by)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ConfigError("key name must be 1-200 characters")


def create_admin_key(
    store: Store, name: str, role: Role, *, actor: str, reason: str
) -> tuple[AdminKey, str]:
    """Create a key; returns it with the plaintext, which is shown once and never stored.
    Audited, so a blank `reason` is `ReasonRequired` (checked before the name)."""
    require_reason(reason, f"creating admin key {name!r}")
    _check_name(name)
    plaintext = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.transaction() as conn:
        existing = conn.execute(sa.select(admin_keys).where(admin_keys.c.name == name)).first()
        if existing is not None:
            raise ConfigError(f"an admin key named {name!r} already exists (revoked or not)")
        conn.execute(
            admin_keys.insert().values(
                name=name,
                key_hash=hash_key(plaintext),
                role=role.value,
                created_at=now,
                created_by=actor,
                revoked_at=None,
            )
        )
        store.record_audit(
            actor=actor,
            action="admin_key.create",
            object_type="admin_key",
            object_id=name,
            before=None,
            after={"role": role.value},
            reason=reason,
            conn=conn,
        )
    return AdminKey(name, role, now, actor), plaintext


def revoke_admin_key(store: Store, name: str, *, actor: str, reason: str) -> AdminKey:
    require_reason(reason, f"revoking admin key {name!r}")
    with store.transaction() as conn:
        row = conn.execute(
            sa.select(admin_keys).where(
                admin_keys.c.name == name, admin_keys.c.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            raise RefError(f"no active admin key named {name!r}")
        conn.execute(
            admin_keys.update()
            .where(admin_keys.c.name == name)
            .values(revoked_at=datetime.now(UTC))
        )
        store.record_audit(
            actor=actor,
            action="admin_key.revoke",
            object_type="admin_key",
            object_id=name,
            before={"role": row.role},
            after=None,
            reason=reason,
            conn=conn,
        )
    return _key(row)


def list_admin_keys(store: Store) -> list[AdminKey]:
    query = (
        sa.select(admin_keys)
        .where(admin_keys.c.revoked_at.is_(None))
        .order_by(admin_keys.c.name)
    )
    return [_key(row) for row in _read(store, query)]


def authenticate(store: Store, token: str | None) -> AdminKey:
    """The active key behind `token`; AuthenticationError (401) if missing, unknown or revoked."""
    if not token:
        raise AuthenticationError(
            "missing admin API key: send 'Authorization: Bearer <key>' "
            "(create one with `rampway api-keys create NAME --role editor --reason …`)",
            param="authorization",
        )
    query = sa.select(admin_keys).where(
        admin_keys.c.key_hash == hash_key(token), admin_keys.c.revoked_at.is_(None)
    )
    rows = _read(store, query)
    if not rows:
        raise AuthenticationError("invalid or revoked admin API key", param="authorization")
    return _key(rows[0])


def require(key: AdminKey, needed: Role) -> None:
    if not key.role.allows(needed):
        raise PermissionDenied(
            f"admin key {key.name!r} has role {key.role.value}; this needs {needed.value} "
            "or above"
        )


def _read(store: Store, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    try:
        with store.engine.connect() as conn:
            return list(conn.execute(query))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read admin keys: {exc}") from exc


__all__ = [
    "ADMIN_KEY_PREFIX",
    "AdminKey",
    "Role",
    "authenticate",
    "create_admin_key",
    "list_admin_keys",
    "parse_role",
    "require",
    "revoke_admin_key",
]
