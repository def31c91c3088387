"""The public surface of `rampway.providers.sim` is exactly what we mean to export."""

from __future__ import annotations

import rampway.providers.sim as sim


def test_exports() -> None:
    assert sorted(sim.__all__) == [
        "ModelProfile",
        "SimConfig",
        "SimProvider",
        "SimRuntime",
        "SimServer",
        "create_app",
        "load_sim_config",
    ]
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_create_app_shares_the_runtime() -> None:
    app = sim.create_app(sim.load_sim_config())
    assert app.runtime.config.models["sim-large"].quality > 0
