"""Wall time of short `rampway` commands, hyperfine-style: warm-up, N runs, median and spread.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--json]

Each command runs as a fresh `python -m rampway …` process (what a user or CI step pays) on a
copy of examples/support-bot in a temporary directory, after one warm-up run that also
creates the SQLite database, so every timed run measures the steady state. Targets (issue
#17): `--help` <= 0.3 s, `release validate` <= 0.6 s, `flags set` <= 0.6 s. Wall time is what
the targets are about; the CPU column (user + system) is the same work measured so that a
busy machine (other processes on the cores) inflates it far less, and the load column is the
1-minute load average before and after each command's runs (wall figures taken at a load
above the number of CPUs say more about the machine than about rampway).

`python -X importtime -m rampway --help` shows where the remaining time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support-bot"
FLAG_FILE = "kill.yaml"

# (label, argv after `python -m rampway`, target seconds)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("rampway --help", ["--help"], 0.3),
    ("rampway --version", ["--version"], 0.3),
    ("rampway release validate", ["release", "validate"], 0.6),
    ("rampway flags set", ["flags", "set", "bench.kill", "--file", FLAG_FILE,
                           "--reason", "bench"], 0.6),
    ("rampway flags eval --file", ["flags", "eval", "support-bot.enabled", "--unit", "u-1",
                                   "--file", "flags/support-bot.yaml"], None),
    ("rampway models list", ["models", "list"], None),
]


def project_copy(root: Path) -> Path:
    """examples/support-bot without its database, plus a flag definition for `flags set`."""
    target = root / "support-bot"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".rampway", "__pycache__"))
    (target / FLAG_FILE).write_text("type: bool\ndefault: false\n")
    return target


def run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rampway", *argv], cwd=cwd, env=env,
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"`rampway {' '.join(argv)}` exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace').strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def measure(runs: int) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWAY_")}
    env["RAMPWAY_ACTOR"] = "bench"  # no `git config` lookup in the timed path
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up writes bytecode, as installs have it
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = project_copy(Path(tmp))
        for label, argv, target in COMMANDS:
            try:
                run_once(argv, cwd, env)  # warm-up: bytecode caches, the first migration
            except SystemExit as exc:  # e.g. `--version` on a rampway that predates it
                rows.append({"command": label, "error": str(exc), "target_s": target})
                continue
            load = os.getloadavg()[0]
            samples = [run_once(argv, cwd, env) for _ in range(runs)]
            times = sorted(wall for wall, _ in samples)
            median = statistics.median(times)
            rows.append({
                "command": label,
                "runs": runs,
                "median_s": round(median, 4),
                "min_s": round(times[0], 4),
                "max_s": round(times[-1], 4),
                "cpu_median_s": round(statistics.median(cpu for _, cpu in samples), 4),
                "target_s": target,
                "ok": None if target is None else median <= target,
                "load_before": round(load, 1),
                "load_after": round(os.getloadavg()[0], 1),
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = measure(args.runs)
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "commands": rows}, indent=2))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.runs} runs each")
    print(f"{'command':<28} {'median':>8} {'min':>8} {'max':>8} {'cpu':>8} {'target':>8}"
          f"  load")
    for r in rows:
        if "error" in r:
            print(f"{r['command']:<28} failed: {r['error'][:60]}")
            continue
        target = "-" if r["target_s"] is None else f"{r['target_s']:.2f}s"
        verdict = "" if r["ok"] is None else ("  ok" if r["ok"] else "  OVER")
        print(f"{r['command']:<28} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s "
              f"{r['max_s']:>7.3f}s {r['cpu_median_s']:>7.3f}s {target:>8}{verdict:<6}"
              f"{r['load_before']:>5.1f}-{r['load_after']:.1f}")


if __name__ == "__main__":
    main()
