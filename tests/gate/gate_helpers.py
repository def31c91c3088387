"""The example project in a temp dir, with an in-process simulator behind a real Router."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rampway.config import load_project
from rampway.gate.run import GateContext
from rampway.providers.catalog import Catalog
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim._config import load_sim_config
from rampway.providers.sim._provider import SimProvider
from rampway.router import Router
from rampway.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


@dataclass
class ExampleProject:
    root: Path
    ctx: GateContext
    sim: SimProvider

    def candidate(self, feature: str, edit: Callable[[Path], None]) -> str:
        """Copy the working-tree release to `candidates/<feature>`, apply `edit`, return the ref."""
        target = self.root / "candidates" / feature
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.root / "releases" / feature, target)
        edit(target)
        return str(target)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
async def example_project(tmp_path: Path) -> AsyncIterator[ExampleProject]:
    root = tmp_path / "support-bot"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    project = load_project(root)
    config = load_sim_config(None)
    # Simulated latencies of 50-300 ms (the sim reports those, whatever the machine's load),
    # drawn from a fixed stream.
    config.time_scale, config.fault_seed = 0.1, 11
    sim = SimProvider(config)
    router = Router(ProviderRegistry({"sim": sim}, {"sim": "sim"}), Catalog.load())
    store = Store.open(f"sqlite:///{tmp_path / 'rampway.db'}")
    try:
        yield ExampleProject(root, GateContext(project, store, router.complete), sim)
    finally:
        store.close()


def patch_model(sim: SimProvider, model: str, **changes: Any) -> None:
    sim.patch_config({"models": {model: changes}})


def weaken_prompt(directory: Path) -> None:
    """A "simplified" system prompt that drops the intent-label instruction and the examples."""
    spec = yaml.safe_load((directory / "release.yaml").read_text())
    spec["messages"].pop("few_shot")
    (directory / "release.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (directory / "prompts" / "system.md").write_text(
        "You are Ava from ACME Shop, talking to {{ customer_name | default('a customer') }}"
        "{% if plan is defined %} ({{ plan }} member){% endif %}. Be brief and friendly; look up "
        "orders with the lookup_order tool. Returns: 30 days. Shipping: 2-4 business days.\n"
    )
