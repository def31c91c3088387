"""The audit log as a page: who did what to which object, when and why, before → after.

`Store.list_audit` (what `rampway audit` and `GET /api/v1/audit` read), newest first,
optionally for one object type and id; the JSON of each change is shown folded.

    audit_page(store, object_type="flag", object_id=None)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rampway.errors import RequestError
from rampway.gateway._common import find_unclean
from rampway.store import Store

LIMIT = 200
_MAX_FILTER = 300
_MAX_JSON = 4000


def audit_filters(params: Mapping[str, str]) -> dict[str, str]:
    """`object_type` / `object_id` from the query string (400 naming a bad one)."""
    found = {}
    for name in ("object_type", "object_id"):
        value = (params.get(name) or "").strip()
        if len(value) > _MAX_FILTER:
            raise RequestError(f"{name}: at most {_MAX_FILTER} characters", param=name)
        if value:
            found[name] = value
    problem = find_unclean(found)
    if problem is not None:
        raise RequestError(f"{problem[0]}: {problem[1]}", param=problem[0])
    return found


def audit_page(store: Store, filters: Mapping[str, str], *, limit: int = LIMIT) -> dict[
        str, Any]:
    entries = store.list_audit(object_type=filters.get("object_type"),
                               object_id=filters.get("object_id"), limit=limit)
    return {"filters": dict(filters), "limit": limit, "entries": [
        {"id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
         "object_type": e.object_type, "object_id": e.object_id, "reason": e.reason,
         "before": _json(e.before), "after": _json(e.after)} for e in entries]}


def _json(value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, indent=1, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= _MAX_JSON else text[:_MAX_JSON] + "\n…"


__all__ = ["LIMIT", "audit_filters", "audit_page"]
