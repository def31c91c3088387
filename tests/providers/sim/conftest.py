"""A sim server shared by the wire-format tests; each test gets it with pristine config/stats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rampway.providers.sim import SimServer, load_sim_config


@pytest.fixture(scope="session")
def _sim_server() -> Iterator[SimServer]:
    with SimServer(load_sim_config(), time_scale=0) as srv:
        yield srv


@pytest.fixture
def sim(_sim_server: SimServer) -> Iterator[SimServer]:
    original = _sim_server.config
    _sim_server.reset_stats()
    yield _sim_server
    _sim_server.runtime.replace(original)
