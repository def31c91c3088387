"""Fixtures: a published project (`proj`), a started runtime, an in-process ASGI client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gateway_helpers import Proj, make_project  # noqa: E402

from rampway.gateway import GatewayApp, Runtime  # noqa: E402


@pytest.fixture
def proj(tmp_path: Path) -> Proj:
    return make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}")


@pytest.fixture
async def runtime(proj: Proj) -> AsyncIterator[Runtime]:
    rt = Runtime.from_project(proj.project)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=GatewayApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c
