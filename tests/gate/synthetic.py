"""Synthetic eval runs (no model calls) for the pure comparison + policy path."""

from __future__ import annotations

import numpy as np

from rampway.evals.results import CaseResult, EvalRun
from rampway.evals.scorers import Score


def synthetic_run(
    rng: np.random.Generator,
    p_pass: np.ndarray,
    cost: np.ndarray,
    latency: np.ndarray,
    repeats: int = 3,
    release: str = "bot@base",
    traffic_class: str = "chat",
    critical: frozenset[str] = frozenset(),
) -> EvalRun:
    """One run: case i passes each repeat with probability p_pass[i]; cost/latency jitter a bit."""
    results = []
    for i, p in enumerate(p_pass):
        for r in range(repeats):
            ok = bool(rng.random() < p)
            results.append(
                CaseResult(
                    case_id=f"c{i:04d}",
                    repeat=r,
                    scores={"acc": Score(float(ok), ok)},
                    metrics={"quality": float(ok), "pass_rate": float(ok)},
                    passed=ok,
                    cost_usd=float(cost[i] * rng.lognormal(0, 0.02)),
                    latency_s=float(latency[i] * rng.lognormal(0, 0.15)),
                    output="yes" if ok else "no",
                )
            )
    return EvalRun(
        run_id=release,
        feature="bot",
        release_id=release,
        release_digest=release,
        suite_digest="s",
        traffic_class=traffic_class,
        repeats=repeats,
        metric_names=["quality", "pass_rate"],
        case_weights={f"c{i:04d}": 1.0 for i in range(len(p_pass))},
        critical=critical,
        results=results,
        complete=True,
    )


def case_population(
    rng: np.random.Generator, n: int, flaky: float = 0.1
) -> tuple[np.ndarray, ...]:
    """Most cases are stable (always right or always wrong), a share `flaky` is not."""
    kind = rng.random(n)
    stable = 1.0 - flaky
    p = np.where(
        kind < 0.85 * stable, 1.0, np.where(kind < stable, 0.0, rng.uniform(0.2, 0.8, n))
    )
    cost = rng.lognormal(np.log(0.002), 0.3, n)
    latency = rng.lognormal(np.log(0.8), 0.3, n)
    return p, cost, latency
