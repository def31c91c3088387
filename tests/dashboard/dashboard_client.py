"""Talking to the dashboard in-process: sign in with a key, read a page's CSRF token."""

from __future__ import annotations

import re

import httpx

BASE = "http://127.0.0.1:8787"


async def sign_in(ui: httpx.AsyncClient, key: str) -> None:
    r = await ui.post("/ui/login", data={"key": key, "next": "/ui/"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/", r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
