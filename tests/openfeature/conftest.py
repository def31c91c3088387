"""OpenFeature fixtures: flags in a store, a project served by a real gateway (OFREP)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openfeature import api

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, first_use_migrates, make_project  # noqa: E402


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
def domain() -> Iterator[str]:
    """A private OpenFeature domain per test (the SDK's registry is process-global)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    api.clear_providers()
