"""Swagger UI at /api/v1/docs loads nothing from outside: its assets come from the package."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from rampway.admin import PREFIX, create_admin_app
from rampway.store import Store


async def test_docs_page_and_its_assets_are_served_locally(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'r.db'}")  # no database is read: one backend
    transport = httpx.ASGITransport(app=create_admin_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as api:
        page = await api.get(f"{PREFIX}/docs")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js",
                                                          "swagger-ui.css"}
        for url in assets:
            assert url.startswith(f"{PREFIX}/docs/static/"), url
            got = await api.head(url)  # served (HEAD: no need to move 1.5 MB through the test)
            assert got.status_code == 200 and int(got.headers["content-length"]) > 1000, url
        assert "cdn" not in page.text.lower()
        assert (await api.get(f"{PREFIX}/openapi.json")).json()["openapi"].startswith("3.")
    store.close()
