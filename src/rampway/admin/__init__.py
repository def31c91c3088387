"""The authenticated admin API (`/api/v1`) and its keys with roles.

    from rampway.admin import create_admin_app, create_admin_key, Role
    key, plaintext = create_admin_key(store, "ana", Role.ADMIN, actor="ana", reason="bootstrap")
    app = create_admin_app(store)              # mounted by the gateway at /api/v1

`AdminClient` is the same API from Python (what `rampway … --server URL` uses).
"""

from rampway.admin.app import PREFIX, create_admin_app
from rampway.admin.client import AdminClient
from rampway.admin.keys import (
    AdminKey,
    Role,
    authenticate,
    create_admin_key,
    list_admin_keys,
    revoke_admin_key,
)

__all__ = [
    "PREFIX",
    "AdminClient",
    "AdminKey",
    "Role",
    "authenticate",
    "create_admin_app",
    "create_admin_key",
    "list_admin_keys",
    "revoke_admin_key",
]
