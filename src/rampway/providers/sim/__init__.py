"""The simulated provider: realistic, deterministic, prompt-sensitive fake LLMs.

In-process (`SimProvider`, for unit tests and benches) or over real HTTP (`SimServer`,
`create_app`, `rampway sim serve`) speaking the OpenAI Chat Completions and Anthropic Messages
wire formats, with configurable latency, prices, faults, refusals, verbosity, JSON adherence and
tool-use propensity per model (`SimConfig` / `ModelProfile`, bundled `default_sim.yaml`).
"""

from __future__ import annotations

from rampway.providers.sim._config import ModelProfile, SimConfig, load_sim_config
from rampway.providers.sim._provider import SimProvider
from rampway.providers.sim._runtime import SimRuntime
from rampway.providers.sim._server import SimServer, create_app

__all__ = [
    "ModelProfile",
    "SimConfig",
    "SimProvider",
    "SimRuntime",
    "SimServer",
    "create_app",
    "load_sim_config",
]
