"""SDK tests reuse the gateway's project builder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, make_project  # noqa: E402


@pytest.fixture
def proj(tmp_path: Path) -> Proj:
    return make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}")
