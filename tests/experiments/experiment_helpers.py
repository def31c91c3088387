"""Shared helpers for experiment tests: releases in a store and definitions to start."""

from __future__ import annotations

import hashlib
from typing import Any

from rampway.experiments import Definition, ExperimentRecord
from rampway.experiments import repo as experiments
from rampway.store import Store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FEATURE = "support-bot"


def publish(store: Store, feature: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    release_id = f"{feature}@{digest[:8]}"
    store.publish(feature, digest, release_id, text, actor="test")
    return release_id


def published(store: Store, feature: str = FEATURE, n: int = 2) -> list[str]:
    """`n` releases of `feature`; production → the first."""
    ids = [publish(store, feature, f"{feature} v{i + 1}") for i in range(n)]
    store.set_channel(feature, "production", ids[0], actor="test", reason="initial")
    return ids


def definition(feature: str = FEATURE, n: int = 2, **overrides: Any) -> Definition:
    data: dict[str, Any] = {
        "feature": feature,
        "arms": [{"name": "control", "release": "production"}]
        + [{"name": f"treatment{i}", "release": f"v{i + 1}"} for i in range(1, n)],
        "primary": "feedback:thumbs_up",
        "guardrails": [{"metric": "error_rate", "bad": "increase"}],
        "min_runtime": "1d",
    }
    data.update(overrides)
    return Definition.model_validate(data)


def start(store: Store, name: str = "tone", feature: str = FEATURE, n: int = 2,
          ids: list[str] | None = None, **overrides: Any) -> ExperimentRecord:
    ids = ids or published(store, feature, n)
    return experiments.start(store, name, definition(feature, n, **overrides), ids,
                             actor="ana", reason="try it", now=T0)
