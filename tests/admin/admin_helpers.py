"""Helpers shared by the admin API tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Keys:
    viewer: str
    editor: str
    admin: str

    def headers(self, role: str | None) -> dict[str, str]:
        if role is None:
            return {}
        return {"authorization": f"Bearer {getattr(self, role)}"}
