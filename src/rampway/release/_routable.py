"""Routability: could the gateway route this (provider, model) for this project? Pure.

Serving a model takes two things: a provider configured in rampway.yaml (`providers:`) and a
catalog entry for the model (bundled `catalog.yaml`, or rampway.yaml `catalog:`), found under
the provider's name or its kind. Without the entry the router can neither price the call nor
check the context window, so it refuses the model — and every request of the feature would
answer 500. This module answers the question once, for every path that can make a model
reachable (release validate/publish, channel set, rollout/experiment start, the admin API, flag
writes, `rampway doctor`), so they all refuse the same thing with the same words.

A self-hosted model behind `kind: openai` is routable once it has an explicit entry; its prices
may be 0:

    catalog:
      - {provider: vllm, model: llama-3.1-8b, input_per_mtok: 0, output_per_mtok: 0,
         context_window: 8192}

Example:
    routing = Routing.of(project)
    routing.problem("sim", "sim-hugee")
    # "model sim/sim-hugee has no catalog entry (did you mean sim-huge?): fix the name, or …"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rampway.providers.catalog import Catalog

if TYPE_CHECKING:
    from rampway.config import Project, ProjectConfig


@dataclass(frozen=True, slots=True)
class Routing:
    """What routability depends on: configured provider name → kind, and the merged catalog."""

    kinds: Mapping[str, str]
    catalog: Catalog

    @classmethod
    def of(cls, project: Project) -> Routing:
        """The project's providers and its catalog (bundled + `catalog:`); ConfigError if the
        `catalog:` section itself is invalid."""
        return cls.from_config(project.config)

    @classmethod
    def from_config(cls, config: ProjectConfig) -> Routing:
        """As `of`, from a rampway.yaml alone (a gateway's reloaded config)."""
        kinds = {name: cfg.kind for name, cfg in config.providers.items()}
        return cls(kinds, Catalog.load(config.catalog))

    def routable(self, provider: str, model: str) -> bool:
        return self.problem(provider, model) is None

    def problem(self, provider: str, model: str) -> str | None:
        """None when routable, else one sentence: what is wrong and how to fix it."""
        kind = self.kinds.get(provider)
        if kind is None:
            known = ", ".join(sorted(self.kinds)) or "none"
            return (
                f"provider {provider!r} (for {model}) is not configured in rampway.yaml "
                f"(configured: {known}); add it under `providers:` or fix the name"
            )
        if self.catalog.find(provider, model) or self.catalog.find(kind, model):
            return None
        hint = _suggest(model, self._models_of(provider, kind))
        return (
            f"model {provider}/{model} has no catalog entry, so the gateway cannot route it"
            f"{hint}: fix the name, or for a self-hosted model add `{{provider: {provider}, "
            f"model: {model}, input_per_mtok: 0, output_per_mtok: 0, context_window: N}}` "
            "under `catalog:` in rampway.yaml"
        )

    def _models_of(self, provider: str, kind: str) -> list[str]:
        return sorted({e.model for e in self.catalog if e.provider in (provider, kind)})

    def providers_for(self, model: str) -> list[str]:
        """Configured providers that can route `model` (for a flag value without a provider)."""
        return [name for name in sorted(self.kinds) if self.routable(name, model)]


def _suggest(model: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(model, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


__all__ = ["Routing"]
