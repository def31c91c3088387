"""`--sim-inprocess` serves the project's own simulated models (`sim: {config: sim.yaml}`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rampway.cli.eval import gate_context
from rampway.config import load_project
from rampway.providers.types import ChatRequest, Message
from rampway.router import Target
from rampway.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"

SIM_YAML = """\
time_scale: 0
models:
  sim-custom:
    description: A model only this project defines.
    context_window: 64000
    max_output_tokens: 4096
    quality: 0.7
    prices: {input_per_mtok: 1.0, output_per_mtok: 2.0, cached_input_per_mtok: 0.5}
"""

CONFIG = """
sim:
  config: sim.yaml
catalog:
  - {provider: sim, model: sim-custom, input_per_mtok: 1.0, cached_input_per_mtok: 0.5,
     output_per_mtok: 2.0, context_window: 64000, max_output: 4096}
"""


async def test_inprocess_sim_knows_the_models_of_the_projects_sim_config(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    (root / "sim.yaml").write_text(SIM_YAML)
    with (root / "rampway.yaml").open("a") as config:
        config.write(CONFIG)
    project = load_project(root)
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with gate_context(project, store, True, None) as ctx:
            request = ChatRequest(model="", messages=[Message("user", "What is 2 plus 3?")],
                                  temperature=0)
            routed = await ctx.complete(request, [Target("sim", "sim-custom")])
    finally:
        store.close()
    assert routed.served_by.model == "sim-custom"
    assert routed.response.content
    assert routed.cost_usd > 0
