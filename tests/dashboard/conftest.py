"""Make the shared helpers importable (tests/dashboard is not a package), with the timeline's,
the rollout's and the gateway's; `ui`: the dashboard app on the `store`, in-process."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
for area in ("timeline", "rollout", "experiments", "gateway", "shadow"):
    sys.path.insert(0, str(Path(__file__).parents[1] / area))

from dashboard_client import BASE  # noqa: E402  (found through the path set above)

from rampway.dashboard import create_dashboard_app  # noqa: E402
from rampway.store import Store  # noqa: E402


@pytest.fixture
async def ui(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_dashboard_app(store))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client
