"""Admin API fixtures: a published project on each database, keys of every role, a client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))
sys.path.insert(0, str(Path(__file__).parent.parent / "rollout"))

from admin_helpers import Keys  # noqa: E402
from gateway_helpers import Proj, first_use_migrates, make_project  # noqa: E402

from rampway.admin import Role, create_admin_app, create_admin_key  # noqa: E402
from rampway.store import Store  # noqa: E402


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
def store(proj: Proj) -> Iterator[Store]:
    opened = Store.open(proj.db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def keys(store: Store) -> Keys:
    made = {
        role.value: create_admin_key(store, f"{role.value}-key", role, actor="setup",
                                     reason="test")[1]
        for role in Role
    }
    return Keys(**made)


@pytest.fixture
async def api(store: Store, proj: Proj) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_admin_app(store, project=proj.project))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client
