"""App keys: what an app presents as `Authorization: Bearer <key>` (or `x-api-key`).

Keys are random 256-bit tokens, so a plain SHA-256 is a safe way to store them (no dictionary to
attack, unlike passwords); only the hash is ever stored, in the `app_keys` table or as `sha256:` in
rampway.yaml. A key may be limited to some features. As soon as one key exists (or
`gateway.require_keys` is true) every API request needs a valid key; `/healthz`, `/readyz` and
`/metrics` stay open for probes and scrapers.

Creating or revoking a key bumps the store's control version, so running gateways pick it up
within a second like any other control change.

Example:
    key, plaintext = create_key(store, "web", features=["support-bot"], actor="ana",
                                reason="the web app")
    ring = load_keyring(store, {})
    ring.authenticate(f"Bearer {plaintext}").name == "web"
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from rampway._reason import require_reason
from rampway.errors import (
    AuthenticationError,
    ConfigError,
    PermissionDenied,
    RefError,
    StoreError,
)
from rampway.events.tables import app_keys

if TYPE_CHECKING:
    from rampway.store import Store

KEY_PREFIX = "rwk_"


@dataclass(frozen=True, slots=True)
class AppKey:
    name: str
    features: frozenset[str] | None  # None = all features
    source: str = "store"  # store | config
    created_at: float | None = None

    def allows(self, feature: str) -> bool:
        return self.features is None or feature in self.features

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": None if self.features is None else sorted(self.features),
            "source": self.source,
            "created_at": self.created_at,
        }


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyRing:
    """Active keys by hash. Pure: `authenticate` and `authorize` do no I/O."""

    __slots__ = ("_by_hash", "required")

    def __init__(self, by_hash: Mapping[str, AppKey], required: bool) -> None:
        self._by_hash = dict(by_hash)
        self.required = required or bool(by_hash)

    @classmethod
    def empty(cls) -> KeyRing:
        return cls({}, required=False)

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, authorization: str | None, api_key: str | None = None) -> AppKey | None:
        """The key behind the request's headers; None when keys are not required."""
        if not self.required:
            return None
        token = _bearer(authorization) or api_key
        if not token:
            raise AuthenticationError(
                "missing app key: send 'Authorization: Bearer <key>'", param="authorization"
            )
        # A dict lookup on the SHA-256 of the token: timing can only reveal facts about
        # hashes the caller cannot steer, so no constant-time compare is needed here.
        key = self._by_hash.get(hash_key(token))
        if key is None:
            raise AuthenticationError("invalid app key", param="authorization")
        return key

    @staticmethod
    def authorize(key: AppKey | None, feature: str) -> None:
        if key is not None and not key.allows(feature):
            raise PermissionDenied(
                f"app key {key.name!r} is not allowed to use feature {feature!r}", param="model"
            )


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


# -- store I/O ------------------------------------------------------------------------------------


def load_keyring(store: Store, gateway_section: Mapping[str, Any]) -> KeyRing:
    """Active keys from the store plus those declared in `gateway.keys`."""
    from rampway.gateway.settings import GatewaySettings

    settings = GatewaySettings.from_config(dict(gateway_section))
    by_hash: dict[str, AppKey] = {}
    for spec in settings.keys:
        feats = None if spec.features is None else frozenset(spec.features)
        by_hash[spec.sha256] = AppKey(spec.name, feats, source="config")
    query = sa.select(app_keys).where(app_keys.c.revoked_at.is_(None))
    for row in _read(store, query):
        feats = None if row.features is None else frozenset(row.features)
        by_hash[row.key_hash] = AppKey(row.name, feats, "store", row.created_at)
    return KeyRing(by_hash, required=settings.require_keys)


def create_key(
    store: Store, name: str, *, features: list[str] | None, actor: str, reason: str
) -> tuple[AppKey, str]:
    """Create a key; returns it with the plaintext, which is shown once and never stored.
    `reason` goes into the audit log with the creation: a blank one is `ReasonRequired`."""
    require_reason(reason, f"creating app key {name!r}")
    if not name or len(name) > 200:
        raise ConfigError("key name must be 1-200 characters")
    plaintext = generate_key()
    now = time.time()
    row = {
        "id": secrets.token_hex(8),
        "name": name,
        "key_hash": hash_key(plaintext),
        "features": None if features is None else sorted(set(features)),
        "created_at": now,
        "revoked_at": None,
    }
    with store.transaction() as conn:
        exists = conn.scalar(sa.select(app_keys.c.id).where(app_keys.c.name == name))
        if exists is not None:
            raise ConfigError(f"an app key named {name!r} already exists")
        conn.execute(app_keys.insert().values(**row))
        store.record_audit(
            actor=actor,
            action="key.create",
            object_type="app_key",
            object_id=name,
            before=None,
            after={"features": row["features"]},
            reason=reason,
            conn=conn,
        )
        store.bump_control_version(conn)
    feats = None if features is None else frozenset(features)
    return AppKey(name, feats, "store", now), plaintext


def list_keys(store: Store) -> list[AppKey]:
    query = sa.select(app_keys).where(app_keys.c.revoked_at.is_(None)).order_by(app_keys.c.name)
    return [
        AppKey(r.name, None if r.features is None else frozenset(r.features), "store", r.created_at)
        for r in _read(store, query)
    ]


def _read(store: Store, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    """Run one read; database errors become StoreError (no SQLAlchemy error escapes)."""
    try:
        with store.engine.connect() as conn:
            return list(conn.execute(query))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read app keys: {exc}") from exc


def revoke_key(store: Store, name: str, *, actor: str, reason: str) -> None:
    require_reason(reason, f"revoking app key {name!r}")
    with store.transaction() as conn:
        result = conn.execute(
            app_keys.update()
            .where(app_keys.c.name == name, app_keys.c.revoked_at.is_(None))
            .values(revoked_at=time.time())
        )
        if result.rowcount == 0:
            raise RefError(f"no active app key named {name!r}")
        store.record_audit(
            actor=actor,
            action="key.revoke",
            object_type="app_key",
            object_id=name,
            before=None,
            after=None,
            reason=reason,
            conn=conn,
        )
        store.bump_control_version(conn)


__all__ = [
    "AppKey",
    "KeyRing",
    "create_key",
    "generate_key",
    "hash_key",
    "list_keys",
    "load_keyring",
    "revoke_key",
]
