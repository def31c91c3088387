"""The runner: cache, resume, 429 back-off, bad cases, against a scripted `complete`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from rampway.errors import ConfigError, ProviderUnavailable, RateLimited
from rampway.evals.runner import AdaptiveLimit, EvalRunner, RunOptions
from rampway.evals.storage import EvalStore
from rampway.evals.suite import load_suite
from rampway.providers.catalog import Catalog
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim import SimProvider, load_sim_config
from rampway.providers.types import ChatRequest, ChatResponse, Usage
from rampway.release import load_release
from rampway.router import RoutedResponse, Router, Target
from rampway.store import Store

RELEASE = """\
provider: sim
model: sim-large
params: {temperature: 0.5}
messages: {system: sys.md, user: "{{ input }}"}
variables: {tone: {required: false}}
"""
SUITE = """\
cases:
  - file: cases.jsonl
scorers:
  answer: {type: contains}
"""


class Interrupted(Exception):
    """Stands in for Ctrl-C / a killed CI job in the middle of a run."""


class Scripted:
    """Answers 'yes <seed>'; optionally fails the first calls with given errors."""

    def __init__(self, errors: Sequence[Exception] = ()) -> None:
        self.calls: list[ChatRequest] = []
        self.errors = list(errors)
        self.in_flight = self.peak = 0

    async def __call__(self, request: ChatRequest, targets: Sequence[Target]) -> RoutedResponse:
        self.calls.append(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if self.errors:
                raise self.errors.pop(0)
            content = f"yes {request.seed}"
            usage = Usage(10, 2)
            response = ChatResponse("id", request.model, content, "stop", usage, latency_s=0.2)
            return RoutedResponse(response, served_by=targets[0], cost_usd=0.001)
        finally:
            self.in_flight -= 1


def project(tmp_path: Path, n_cases: int = 4) -> tuple[object, object]:
    rel = tmp_path / "releases" / "bot"
    rel.mkdir(parents=True)
    (rel / "release.yaml").write_text(RELEASE)
    (rel / "sys.md").write_text("Be {{ tone | default('kind') }}.")
    evals = tmp_path / "evals" / "bot"
    evals.mkdir(parents=True)
    (evals / "suite.yaml").write_text(SUITE)
    row = '{{"id": "c{0}", "input": "q{0}", "expect": {{"answer": "yes"}}}}'
    lines = [row.format(i) for i in range(n_cases)]
    (evals / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return load_suite(evals / "suite.yaml", "bot", tmp_path), load_release(rel)


async def test_repeats_default_to_three_with_seed_per_repeat(tmp_path: Path) -> None:
    suite, release = project(tmp_path)
    complete = Scripted()
    run = await EvalRunner(complete).run(suite, release, RunOptions())  # type: ignore[arg-type]
    assert run.repeats == 3 and len(run.results) == 12 and run.complete
    assert sorted({c.seed for c in complete.calls}) == [0, 1, 2]
    assert run.metric_means() == {"quality": 1.0, "pass_rate": 1.0}
    assert run.summary()["cost_usd_per_case"] == pytest.approx(0.001)


async def test_rerun_of_unchanged_release_makes_no_calls(store: Store, tmp_path: Path) -> None:
    suite, release = project(tmp_path)
    first = Scripted()
    runner = EvalRunner(first, EvalStore(store))
    run1 = await runner.run(suite, release, RunOptions(repeats=2))  # type: ignore[arg-type]
    second = Scripted()
    run2 = await EvalRunner(second, EvalStore(store)).run(
        suite, release, RunOptions(repeats=2)  # type: ignore[arg-type]
    )
    assert len(first.calls) == 8 and second.calls == []
    assert run2.spent_usd == 0 and all(r.cached for r in run2.results)
    assert run2.summary()["cost_usd_total"] == pytest.approx(run1.summary()["cost_usd_total"])
    assert run2.run_id != run1.run_id and run2.complete


async def test_an_independent_sample_of_the_same_release_makes_its_own_calls(
    store: Store, tmp_path: Path
) -> None:
    """A cached answer never stands in for a repeat: repeat_offset means new seeds, new calls."""
    suite, release = project(tmp_path)
    first = Scripted()
    await EvalRunner(first, EvalStore(store)).run(
        suite, release, RunOptions(repeats=2)  # type: ignore[arg-type]
    )
    second = Scripted()
    run = await EvalRunner(second, EvalStore(store)).run(
        suite, release, RunOptions(repeats=2, repeat_offset=1_000)  # type: ignore[arg-type]
    )
    assert len(second.calls) == 8 and not any(r.cached for r in run.results)
    assert sorted({c.seed for c in second.calls}) == [1_000, 1_001]
    assert sorted({r.repeat for r in run.results}) == [0, 1] and run.complete


async def test_interrupted_run_resumes_and_is_complete_only_at_the_end(
    store: Store, tmp_path: Path
) -> None:
    suite, release = project(tmp_path, n_cases=6)
    evals = EvalStore(store)
    done = 0

    def stop_after_three(progress: object, result: object) -> None:
        nonlocal done
        done += 1
        if done == 3:
            raise Interrupted

    runner = EvalRunner(Scripted(), evals, on_result=stop_after_three)
    with pytest.raises(Interrupted):
        await runner.run(suite, release, RunOptions(repeats=1, concurrency=1))  # type: ignore[arg-type]
    runs = evals.list_runs("bot")
    assert len(runs) == 1 and runs[0]["status"] == "running"
    assert len(evals.load_results(runs[0]["id"])) == 3
    resumed = Scripted()
    run = await EvalRunner(resumed, evals).run(
        suite, release, RunOptions(repeats=1, concurrency=1)  # type: ignore[arg-type]
    )
    assert run.run_id == runs[0]["id"] and run.complete
    assert len(resumed.calls) == 3  # only the cases that had no result
    assert evals.list_runs("bot")[0]["status"] == "complete"


async def test_rate_limits_shrink_concurrency_then_succeed(tmp_path: Path) -> None:
    suite, release = project(tmp_path, n_cases=8)
    errors = [RateLimited("slow down", retry_after=0.01) for _ in range(3)]
    complete = Scripted(errors)
    runner = EvalRunner(complete)
    run = await runner.run(suite, release, RunOptions(repeats=1, concurrency=8))  # type: ignore[arg-type]
    assert run.complete and all(r.error is None for r in run.results)
    assert len(complete.calls) == 8 + 3


def test_adaptive_limit_halves_on_429_and_grows_back() -> None:
    limit = AdaptiveLimit(16, grow_after=2)
    limit.rate_limited(0.0)
    limit.rate_limited(0.0)
    assert limit.limit == 4 and limit.allows(3) and not limit.allows(4)
    for _ in range(4):
        limit.succeeded()
    assert limit.limit == 6


async def test_provider_errors_are_recorded_as_failures_not_cached(
    store: Store, tmp_path: Path
) -> None:
    suite, release = project(tmp_path, n_cases=2)
    complete = Scripted([ProviderUnavailable("down")])
    run = await EvalRunner(complete, EvalStore(store)).run(
        suite, release, RunOptions(repeats=1, concurrency=1)  # type: ignore[arg-type]
    )
    failed = [r for r in run.results if r.error]
    assert len(failed) == 1 and not failed[0].passed and failed[0].metrics["quality"] == 0
    again = Scripted()
    await EvalRunner(again, EvalStore(store)).run(
        suite, release, RunOptions(repeats=1, concurrency=1)  # type: ignore[arg-type]
    )
    assert len(again.calls) == 1  # the failed call is retried, the good one is cached


async def test_case_with_unknown_variable_fails_before_any_call(tmp_path: Path) -> None:
    suite, release = project(tmp_path)
    (tmp_path / "evals" / "bot" / "cases.jsonl").write_text(
        '{"id": "x", "vars": {"tonne": "dry"}, "input": "q", "expect": {"answer": "yes"}}\n'
    )
    suite = load_suite(tmp_path / "evals" / "bot" / "suite.yaml", "bot", tmp_path)
    complete = Scripted()
    with pytest.raises(ConfigError, match=r"cases\.jsonl:1: case 'x' sets unknown variable"):
        await EvalRunner(complete).run(suite, release, RunOptions())  # type: ignore[arg-type]
    assert complete.calls == []


@pytest.mark.parametrize("time_scale", [0.02, 0.0])
async def test_latency_through_the_in_process_sim_is_the_simulated_one(
    tmp_path: Path, time_scale: float
) -> None:
    """A stalled event loop (a loaded CI machine, the sim's own CPU work) is not model latency.

    The loop is blocked for half a second while calls are in flight; the latencies recorded
    are still the simulated server's (tens of ms here; exactly 0 for an instant sim), so a gate
    compares models, not load.
    """
    suite, release = project(tmp_path)
    config = load_sim_config(None)
    config.time_scale, config.fault_seed = time_scale, 1
    sim = SimProvider(config)
    router = Router(ProviderRegistry({"sim": sim}, {"sim": "sim"}), Catalog.load())

    async def stall_once_calls_are_in_flight() -> None:
        while sim.stats()["total_calls"] == 0:
            await asyncio.sleep(0)
        time.sleep(0.5)  # blocks the loop, as a starved CPU would

    stall = asyncio.create_task(stall_once_calls_are_in_flight())
    started = time.perf_counter()
    run = await EvalRunner(router.complete).run(suite, release, RunOptions(concurrency=4))  # type: ignore[arg-type]
    await stall
    assert time.perf_counter() - started >= 0.5 and run.complete
    latencies = [r.latency_s for r in run.results]
    if time_scale:
        assert all(0.0 < s < 0.3 for s in latencies), latencies
    else:
        assert latencies == [0.0] * len(latencies)


async def test_cost_and_latency_scorers_see_each_call_and_keep_it_when_cached(
    store: Store, tmp_path: Path
) -> None:
    """Scripted calls cost $0.001 and take 200 ms: a $0.0005 budget fails, 250 ms passes, and
    a re-run from the cache scores the same (the answer keeps what its call cost and took)."""
    suite, release = project(tmp_path)
    (tmp_path / "evals" / "bot" / "suite.yaml").write_text(
        SUITE + "  cheap: {type: cost, max_usd: 0.0005}\n  fast: {type: latency, max_ms: 250}\n"
    )
    suite = load_suite(tmp_path / "evals" / "bot" / "suite.yaml", "bot", tmp_path)
    runs = [
        await EvalRunner(Scripted(), EvalStore(store)).run(
            suite, release, RunOptions(repeats=1)  # type: ignore[arg-type]
        )
        for _ in range(2)
    ]
    assert all(r.cached for r in runs[1].results)
    for run in runs:
        scores = run.results[0].scores
        assert scores["cheap"].passed is False and scores["cheap"].value == pytest.approx(0.5)
        assert scores["fast"].passed is True
