"""Bench: the eval runner's own overhead.

500 cases × 3 repeats against the simulator at a fixed 200 ms per call, concurrency 32.
Ideal wall time = calls × latency / concurrency = 1500 × 0.2 / 32 = 9.375 s; the runner
must finish within 10% of that with peak memory under 150 MB.

The simulator runs IN-PROCESS (rampway.providers.sim SimProvider, time_scale=1) with a
latency profile of exactly 200 ms (ttft 0.2 s, sigma 0, no per-token or prefill time), behind
the real Router, with results persisted to a SQLite store — the same path `rampway eval`
takes, minus the HTTP hop.

    .venv/bin/python bench/eval_runner.py [--cases 500] [--repeats 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

from rampway.evals.runner import EvalRunner, RunOptions
from rampway.evals.storage import EvalStore
from rampway.evals.suite import load_suite
from rampway.providers.catalog import Catalog
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim._config import load_sim_config
from rampway.providers.sim._provider import SimProvider
from rampway.release import load_release
from rampway.router import Router
from rampway.store import Store

LATENCY_S = 0.2

RELEASE = """\
provider: sim
model: sim-large
params: {temperature: 0.7, max_tokens: 64}
messages: {system: system.md, user: "{{ input }}"}
"""
SUITE = """\
cases:
  - file: cases.jsonl
scorers:
  answer: {type: numeric, abs_tol: 0.01}
  brief: {type: length, max_words: 60}
metrics:
  quality: {answer: 3, brief: 1}
"""


def build_project(root: Path, n_cases: int) -> tuple[Path, Path]:
    release = root / "releases" / "math"
    release.mkdir(parents=True)
    (release / "release.yaml").write_text(RELEASE)
    (release / "system.md").write_text("You are a careful math tutor. Answer with the number.")
    suite = root / "evals" / "math"
    suite.mkdir(parents=True)
    (suite / "suite.yaml").write_text(SUITE)
    with (suite / "cases.jsonl").open("w") as out:
        for i in range(n_cases):
            a, b = 3 + i, 2 + i % 11  # every input distinct: no cache hits inside a run
            case = {"id": f"q{i}", "input": f"Sam has {a} boxes with {b} apples each. "
                    "How many apples does Sam have?", "expect": {"answer": a * b}}
            out.write(json.dumps(case) + "\n")
    return release, suite / "suite.yaml"


def fixed_latency_sim() -> SimProvider:
    config = load_sim_config(None)
    config.time_scale = 1.0
    profile = config.models["sim-large"]
    profile.latency.ttft_median_s = LATENCY_S
    profile.latency.ttft_sigma = 0.0
    profile.latency.per_token_ms = 0.0
    profile.latency.prefill_ms_per_1k_tokens = 0.0
    profile.faults.rate_429 = 0.0
    return SimProvider(config)


async def main(cases: int, repeats: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        release_dir, suite_path = build_project(root, cases)
        suite = load_suite(suite_path, "math", root)
        release = load_release(release_dir)
        router = Router(ProviderRegistry({"sim": fixed_latency_sim()}, {"sim": "sim"}),
                        Catalog.load())
        store = Store.open(f"sqlite:///{root / 'bench.db'}")
        runner = EvalRunner(router.complete, EvalStore(store))
        options = RunOptions(repeats=repeats, concurrency=concurrency)
        started, cpu0 = time.perf_counter(), time.process_time()
        run = await runner.run(suite, release, options)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        store.close()
    calls = len(run.results)
    ideal = calls * LATENCY_S / concurrency
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sim: in-process SimProvider, fixed {LATENCY_S * 1000:.0f} ms/call, via Router, "
          f"SQLite store")
    print(f"calls: {calls} ({cases} cases x {repeats} repeats), concurrency {concurrency}, "
          f"complete={run.complete}")
    print(f"wall: {wall:.2f} s   ideal: {ideal:.2f} s   overhead: {(wall / ideal - 1) * 100:+.1f}%"
          f"   (target: within +10%)")
    print(f"cpu: {cpu / calls * 1000:.3f} ms per call (runner + router + in-process sim + "
          "scoring + store)")
    print(f"peak memory (max RSS): {peak_mb:.0f} MB   (target: < 150 MB)")
    print(f"quality: {run.metric_means().get('quality', 0):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.repeats, args.concurrency))
