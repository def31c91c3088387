"""Shared helpers for experiment tests: releases in a store and definitions to start."""

from __future__ import annotations

import hashlib
from typing import Any

from rampway.events.values import with_shape_ids
from rampway.experiments import Definition, ExperimentRecord
from rampway.experiments import repo as experiments
from rampway.store import Store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FEATURE = "support-bot"


def publish(store: Store, feature: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    release_id = f"{feature}@{digest[:8]}"
    store.publish(feature, digest, release_id, text, actor="test", reason="test")
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


def serve_events(store: Store, record: ExperimentRecord, units: int, ts: float,
                 thumbs_up: dict[str, float] | None = None, step: float = 0.01) -> None:
    """One request per unit, assigned by the real `ActiveExperiments`, written as the gateway
    would (arm = the arm's name), each with a thumbs-up feedback event (value per arm)."""
    from rampway.events.model import hash_unit
    from rampway.events.tables import feedback_events, request_events
    from rampway.experiments import ActiveExperiments

    active = ActiveExperiments.of([record])
    requests, feedback = [], []
    for i in range(units):
        unit = f"user-{i}"
        chosen = active.choose(record.feature, unit)
        arm, release = chosen if chosen else ("production", record.control.release_id)
        rid = f"req_{record.id}_{i}"
        requests.append({
            "id": rid, "ts": ts + i * step, "feature": record.feature, "release_id": release,
            "arm": arm, "unit_hash": hash_unit(unit), "source": "gateway",
            "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
            "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
            "latency_ms": 100.0 + i % 50, "input_tokens": 10, "output_tokens": 20,
            "cached_tokens": 0, "cost_usd": 0.001, "refusal": False, "output_chars": 40,
        })
        value = (thumbs_up or {}).get(arm, float(i % 2))
        feedback.append({"id": f"fb_{rid}", "ts": ts + (i + 0.5) * step, "name": "thumbs_up",
                         "value": value, "request_id": rid, "unit_hash": hash_unit(unit),
                         "feature": record.feature})
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, requests))
        conn.execute(feedback_events.insert(), feedback)
