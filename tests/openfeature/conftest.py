"""OpenFeature fixtures: flags in a store, a project served by a real gateway (OFREP)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openfeature import api

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from gateway_helpers import Proj, make_project  # noqa: E402

FLAGS: dict[str, Any] = {
    "segments": {"beta": {"ids": ["beta-user"]}},
    "flags": {
        "dark-mode": {"type": "bool", "default": False,
                      "rules": [{"condition": {"plan": "pro"}, "value": True,
                                 "variant": "pro-on"}]},
        "greeting": {"type": "string", "default": "hello",
                     "rules": [{"segment": "beta", "value": "hi beta"}]},
        "limit": {"type": "number", "default": 10,
                  "rules": [{"condition": {"country": {"$in": ["DE", "FR"]}}, "value": 20}]},
        "ratio": {"type": "number", "default": 0.5},
        "layout": {"type": "json", "default": {"columns": 2, "tags": ["a"]}},
        "experiment": {"type": "string", "default": "control",
                       "rules": [{"variations": [{"name": "a", "value": "A", "weight": 50},
                                                 {"name": "b", "value": "B", "weight": 50}]}]},
    },
}


@pytest.fixture
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


@pytest.fixture
def domain() -> Iterator[str]:
    """A private OpenFeature domain per test (the SDK's registry is process-global)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    api.clear_providers()
