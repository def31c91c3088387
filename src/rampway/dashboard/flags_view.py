"""Flags as a page: every flag and segment with its values and rules, and a kill switch per
feature for editors.

The kill switch is the native `<feature>.enabled` flag (`rampway.flags.native`): turning a
feature off writes `{"type": "bool", "default": false}` (its rules dropped: a rule that still
served `true` to some users would not be a kill switch), turning it back on writes
`default: true` with no rules. Both go through `FlagStore.put`, what `PUT /api/v1/flags/{key}`
calls: the same validation, control-version bump, audit row (the key's name as actor, the
reason) and optimistic version check.

    flags_page(store)                                         # what the page shows
    switch(flags, "support-bot", on=False, actor="edith", reason="incident 42", version=3)
"""

from __future__ import annotations

import json
from typing import Any

from rampway.errors import RefError
from rampway.flags.native import flag_key
from rampway.flags.store import DefinitionRecord, FlagStore
from rampway.store import Store


def flags_page(store: Store, flags: FlagStore) -> dict[str, Any]:
    """Flags and segments (key order), and each feature's kill-switch state."""
    listed = flags.list("flag")
    by_key = {rec.key: rec for rec in listed}
    return {
        "flags": [_flag_row(rec) for rec in listed],
        "segments": [_flag_row(rec) for rec in flags.list("segment")],
        "switches": [_switch_row(f, by_key.get(flag_key(f, "enabled")))
                     for f in store.list_features()],
    }


def _flag_row(rec: DefinitionRecord) -> dict[str, Any]:
    spec = rec.definition
    rules = spec.get("rules") or []
    return {"key": rec.key, "type": spec.get("type"), "default": _show(spec.get("default")),
            "enabled": spec.get("enabled", True), "description": spec.get("description", ""),
            "rules": [json.dumps(r, indent=1, ensure_ascii=False, default=str) for r in rules],
            "version": rec.version, "source": rec.source, "file": rec.file,
            "updated_at": rec.updated_at, "updated_by": rec.updated_by,
            "definition": json.dumps(spec, ensure_ascii=False, default=str)}


def _switch_row(feature: str, rec: DefinitionRecord | None) -> dict[str, Any]:
    """`on` is what an evaluation without matching rules gives (no flag: on)."""
    if rec is None:
        return {"feature": feature, "key": flag_key(feature, "enabled"), "on": True,
                "rules": 0, "version": 0}
    spec = rec.definition
    on = bool(spec.get("default", True))
    return {"feature": feature, "key": rec.key, "on": on, "rules": len(spec.get("rules") or []),
            "version": rec.version}


def switch(flags: FlagStore, store: Store, feature: str, *, on: bool, actor: str, reason: str,
           version: int | None) -> DefinitionRecord:
    """Turn `feature` on or off through `FlagStore.put` (RefError for an unknown feature;
    ConflictError when `version` is not the flag's stored version, 0 meaning "no flag yet")."""
    if feature not in store.list_features():
        raise RefError(f"unknown feature {feature!r}")
    key = flag_key(feature, "enabled")
    current = flags.get("flag", key)
    spec: dict[str, Any] = {"type": "bool", "default": on}
    if current is not None and current.definition.get("description"):
        spec["description"] = current.definition["description"]
    return flags.put("flag", key, spec, actor=actor, reason=reason, expected_version=version)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


__all__ = ["flags_page", "switch"]
