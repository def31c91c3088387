"""`make demo`: the release story end to end on the embedded SQLite store.

The demo copies `examples/support-bot` into a scratch directory and drives it with the same
`rampway` commands a user types, so what it prints is what a user sees. Each chapter is a list of
commands on the same scratch project, and each starts from where the previous one left it:

    1. releases are files: validate, diff, publish, move production, roll back
    2. the eval gate: v2 (sim-large) against v1 fails on cost and latency
    3. the gateway (`--with-sim`) under the official openai SDK; a rollback reaches it in < 1 s
    4. staged rollouts on live traffic: a prompt tweak completes, a slow model is rolled back
    5. an A/B experiment, production against v2, rated by simulated customers through
       POST /v1/feedback, then `rampway experiment status/analyze/stop`
    6. a model deprecation: `rampway models upgrade` makes sim-large's successor candidate and
       gates it
    7. shadow traffic: sim-large-2 mirrored behind production on a burst of requests, never
       served; the report flags what changed, and an equivalent release shows only noise
    8. the dashboard: a gateway keeps serving with a gated rollout stepping every 45 s while
       simulated users keep coming; the URL and a viewer key are printed, Ctrl-C ends it
       (`DEMO_EXIT=1` stops after chapter 7, `DEMO_HOLD_S=N` serves N seconds instead)

Durations are compressed (rollout dwells of 5 s, an experiment's min_runtime of 20 s) and the
users are simulated, with the behaviour stated where they are defined; every number printed is
what the commands really measured.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Self

import httpx
import openai
from openai import OpenAI
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

console = Console(highlight=False, width=110)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def run(args: Sequence[str], cwd: Path, *, expect: int | None = 0, quiet: bool = False) -> str:
    """Run one `rampway` command as a user would, echo it, and fail loudly on a surprise."""
    if not quiet:
        console.print(f"[bold cyan]$ rampway {' '.join(args)}[/]")
    proc = subprocess.run(
        [sys.executable, "-m", "rampway", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "RAMPWAY_ACTOR": "demo@rampway.dev", "COLUMNS": "110"},
        check=False,
    )
    out = proc.stdout + proc.stderr
    if not quiet:  # the CLI already fits its output to COLUMNS; long lines stay whole
        console.print(out.rstrip(), markup=False, soft_wrap=True)
    if expect is not None and proc.returncode != expect:
        raise SystemExit(f"demo: `rampway {' '.join(args)}` exited {proc.returncode}")
    return out


def chapter(title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}"))


def releases_chapter(project: Path) -> None:
    chapter("1. Releases are files: validate, diff, publish, move production, roll back")
    run(["release", "validate"], project)
    run(["release", "diff", "support-bot", "history/support-bot/v1", "releases/support-bot"],
        project)
    run(["channel", "set", "support-bot", "production", "history/support-bot/v1",
         "--reason", "first launch"], project)
    run(["release", "publish"], project)
    run(["channel", "set", "support-bot", "production", "releases/support-bot",
         "--reason", "v2 prompt: cite the FAQ"], project, expect=2)
    console.print("production is protected: v2 has no recorded gate PASS yet (chapter 2 runs "
                  "the gate). An override needs a reason and is audited:")
    run(["channel", "set", "support-bot", "production", "releases/support-bot", "--skip-gate",
         "--reason", "v2 prompt: cite the FAQ"], project)
    run(["rollback", "support-bot", "--reason", "customers prefer v1 tone"], project)
    run(["release", "history", "support-bot"], project)


def gate_chapter(project: Path) -> None:
    chapter("2. The eval gate: candidate vs baseline on quality, cost and latency")
    console.print(
        "v2 moves support-bot from sim-small to sim-large and rewrites the prompt. The gate runs "
        "the eval suite on both (simulated models, in-process) and applies "
        "policies/support-bot.yaml:"
    )
    run(["gate", "support-bot", "--candidate", "releases/support-bot",
         "--baseline", "history/support-bot/v1", "--sim-inprocess"], project, expect=1)
    console.print("exit code 1: quality rose, but cost and chat latency broke the policy "
                  "(decided at the first look: the gate adds repeats only while undecided).")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def background(args: Sequence[str], cwd: Path, ready_url: str | None = None) -> Iterator[None]:
    """A long-running `rampway …` process (gateway, controller) for the length of a chapter."""
    console.print(f"[bold cyan]$ rampway {' '.join(args)} &[/]")
    proc = subprocess.Popen(  # noqa: S603 (our own CLI)
        [sys.executable, "-m", "rampway", *args],
        cwd=cwd,
        env={**os.environ, "RAMPWAY_ACTOR": "demo@rampway.dev"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if ready_url is not None:
            wait_ready(proc, ready_url)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


READY_S = 180  # a gateway starts in seconds, but takes a minute on a shared machine under load


def wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = proc.stderr.read() if proc.stderr else ""
            raise SystemExit(f"demo: process exited early: {detail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: {url} not ready within {READY_S} s")


QUESTIONS = [
    "How long does standard shipping take?",
    "Where is my order A-10442?",
    "I was charged twice for my order",
    "Can I return shoes I bought three weeks ago?",
]


class Served(NamedTuple):
    """One answer as the app sees it: the reply and the gateway's response headers."""

    release: str  # x-rampway-release
    arm: str  # x-rampway-arm: "production", a rollout's or an experiment's arm
    request_id: str  # x-request-id: what feedback names
    text: str


def ask(client: OpenAI, user: str, question: str) -> Served:
    raw = client.chat.completions.with_raw_response.create(
        model="support-bot",
        messages=[{"role": "user", "content": question}],
        user=user,
    )
    reply = raw.parse()
    message = reply.choices[0].message
    calls = [getattr(call, "function", None) for call in message.tool_calls or []]
    text = message.content or ", ".join(f"{fn.name}(…)" for fn in calls if fn is not None)
    return Served(raw.headers["x-rampway-release"], raw.headers.get("x-rampway-arm", ""),
                  raw.headers["x-request-id"], text)


def served_release(client: OpenAI) -> str:
    return ask(client, "probe", QUESTIONS[0]).release


def wait_for_release(client: OpenAI, expected: str) -> float:
    """Seconds from the channel move to the start of the first request served by `expected`."""
    moved = time.monotonic()
    while True:
        sent = time.monotonic()
        if served_release(client) == expected:
            return sent - moved
        if sent - moved > 10:
            raise SystemExit(f"demo: gateway did not switch to {expected} within 10 s")
        time.sleep(0.05)


def gateway_chapter(project: Path) -> None:
    chapter("3. The gateway: apps change only base_url; a rollback reaches it within a second")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with background(["serve", "--with-sim", "--port", str(port)], project, f"{base}/readyz"):
        client = OpenAI(base_url=f"{base}/v1", api_key="unused")
        console.print(f"client = OpenAI(base_url=\"{base}/v1\")   # the only change in the app")
        table = Table("user", "question", "x-rampway-release", "answer")
        for i, question in enumerate(QUESTIONS):
            served = ask(client, f"user-{i}", question)
            table.add_row(f"user-{i}", question, served.release, served.text[:60])
        console.print(table)
        v1 = served_release(client)
        run(["channel", "set", "support-bot", "production", "releases/support-bot",
             "--skip-gate", "--reason", "ship v2 again"], project)
        v2 = store_release_id(project, "releases/support-bot")
        took = wait_for_release(client, v2)
        console.print(f"the first request sent {took * 1000:.0f} ms after the move got {v2}")
        run(["rollback", "support-bot", "--reason", "demo rollback"], project)
        took = wait_for_release(client, v1)
        console.print(f"the first request sent {took * 1000:.0f} ms after the rollback got {v1}")
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        lines = [ln for ln in metrics.splitlines() if ln.startswith("rampway_requests_total")]
        console.print("\n".join(lines[:6]), markup=False)


FAST_PLAN = """\
# A time-compressed plan for the demo: seconds instead of hours.
baseline: production
unit: user
alpha: 0.05
steps:
  - {weight: 10, dwell: 5s}
  - {weight: 50, dwell: 5s}
  - {weight: 100}
guardrails:
  - {metric: error_rate, margin: {relative: 0.5}, critical: true, min_sample: 40}
  - {metric: latency_p95, margin: {relative: 0.3}, critical: true, min_sample: 40}
"""

# sim-small-2: a "new version" of sim-small, identical offline; the demo slows it down once it
# is live, as a provider under production load might.
DEMO_SIM = """\
time_scale: 0.25
models:
  sim-small-2:
    description: New version of sim-small.
    context_window: 128000
    max_output_tokens: 16384
    quality: 0.5
    skills: {tools: -0.3}
    verbosity: 0.8
    json_adherence: 0.9
    tool_propensity: 0.7
    refusal_rate: 0.004
    latency: {ttft_median_s: 0.12, ttft_sigma: 0.3, per_token_ms: 6.0, per_token_jitter: 0.2,
              prefill_ms_per_1k_tokens: 4.0}
    prices: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
"""

DEMO_CONFIG = """
sim:
  config: sim.yaml
catalog:
  - {provider: sim, model: sim-small-2, input_per_mtok: 0.15, cached_input_per_mtok: 0.075,
     output_per_mtok: 0.60, context_window: 128000, max_output: 16384}
"""


class Traffic:
    """Users of the app, sending requests through the gateway from a few threads."""

    def __init__(self, base_url: str, threads: int = 6) -> None:
        self.client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.served: collections.Counter[str] = collections.Counter()
        self.errors = 0
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(threads)]

    def visit(self, rng: random.Random) -> None:
        """One user's request; `rng` is the thread's own, seeded: the same users every run."""
        served = ask(self.client, f"user-{rng.randrange(2000)}", rng.choice(QUESTIONS))
        with self.lock:
            self.served[served.release] += 1

    def _loop(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 (simulated users, not security)
        while not self.stop.is_set():
            try:
                self.visit(rng)
            except (openai.APIError, httpx.HTTPError):
                with self.lock:
                    self.errors += 1

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def rollout_state(project: Path) -> dict[str, Any]:
    out = run(["rollout", "status", "support-bot", "--json"], project, quiet=True)
    state: dict[str, Any] = json.loads(out)
    return state


def watch_rollout(project: Path, until: float, *, quiet_end: bool = False) -> str:
    """Print each change of state/weight until the rollout ends; return its final state.
    Past `until` seconds that is an error, unless `quiet_end` (then the last state)."""
    seen: tuple[Any, Any] | None = None
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        doc = rollout_state(project)
        now = (doc.get("status"), doc.get("weight_pct"))
        if now != seen:
            stamp = time.strftime("%H:%M:%S")
            console.print(f"  {stamp}  state={now[0]}  candidate weight={now[1]}%")
            seen = now
        if now[0] in ("completed", "rolled_back", "aborted"):
            return str(now[0])
        time.sleep(0.5)
    if quiet_end and seen is not None:
        return str(seen[0])
    raise SystemExit("demo: the rollout did not finish in time")


def start_gated(project: Path, candidate: str, reason: str, plan: str = "fast") -> None:
    """Gate the candidate against production, then start its rollout from that gate.

    The gate looks at growing samples until it decides (policies/support-bot.yaml), so a
    harmless change passes here on every run; a gate that does not pass stops the demo.
    """
    console.print(f"[bold cyan]$ rampway gate support-bot --candidate {candidate} "
                  "--baseline production --sim-inprocess[/]")
    out = run(["gate", "support-bot", "--candidate", candidate, "--baseline", "production",
               "--sim-inprocess", "--concurrency", "64", "--json"], project, quiet=True)
    looks = [line for line in out.splitlines() if line.startswith("support-bot: ")]
    console.print("  " + (looks[-1] if looks else "support-bot: PASS"), markup=False)
    run(["rollout", "start", "support-bot", "--candidate", candidate,
         "--plan", f"rollouts/{plan}.yaml", "--reason", reason], project)


def rollout_chapter(project: Path) -> None:
    chapter("4. Staged rollout: 10% → 50% → 100% judged on live traffic, and an automatic rollback")
    (project / "sim.yaml").write_text(DEMO_SIM)
    with (project / "rampway.yaml").open("a") as config:
        config.write(DEMO_CONFIG)
    (project / "rollouts" / "fast.yaml").write_text(FAST_PLAN)
    good = project / "candidates" / "good"
    shutil.copytree(project / "history" / "support-bot" / "v1", good)
    system = good / "prompts" / "system.md"
    system.write_text(system.read_text().replace("If you do not know the answer",
                                                 "If you are unsure of the answer"))
    bad = project / "candidates" / "bad"
    shutil.copytree(project / "history" / "support-bot" / "v1", bad)
    spec = bad / "release.yaml"
    spec.write_text(spec.read_text().replace("model: sim-small", "model: sim-small-2"))

    port, sim_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    # The rollout controller runs inside the gateway; it looks every second in this demo.
    serve = ["serve", "--with-sim", "--port", str(port), "--sim-port", str(sim_port),
             "--controller-interval", "1"]
    with background(serve, project, f"{base}/readyz"), Traffic(f"{base}/v1") as traffic:
        console.print("[bold]A prompt tweak, gated, then rolled out while users keep coming:[/]")
        start_gated(project, "candidates/good", "clearer fallback wording")
        watch_rollout(project, until=120)
        run(["rollout", "status", "support-bot"], project)

        console.print("\n[bold]A new model version that slows down once it meets real load:[/]")
        start_gated(project, "candidates/bad", "move to sim-small-2")
        slow = {"models": {"sim-small-2": {"latency": {"ttft_median_s": 0.6}}}}
        httpx.post(f"http://127.0.0.1:{sim_port}/_sim/config", json=slow, timeout=5)
        console.print("(the simulator now answers sim-small-2 five times slower)")
        final = watch_rollout(project, until=120)
        run(["rollout", "status", "support-bot"], project)
        console.print(f"final state: {final}; requests served per release: "
                      f"{dict(traffic.served)}, client errors: {traffic.errors}")
    run(["release", "history", "support-bot"], project)


# Chapter 5's experiment. Time-compressed: min_runtime is 20 seconds so that the demo can reach
# a decision; a real experiment runs for at least a week of behaviour (friendlier-tone.yaml).
AB_NAME = "v2-answers"
AB_MIN_RUNTIME_S = 20
AB_EXPERIMENT = f"""\
# A time-compressed A/B test for the demo: min_runtime is {AB_MIN_RUNTIME_S} seconds, not the
# week of behaviour a real experiment needs (see friendlier-tone.yaml).
feature: support-bot
description: Do customers rate v2's answers (sim-large, a knowledge base in the prompt) higher?
unit: user
arms:
  - {{name: control, release: production, weight: 50}}        # chapter 4's prompt tweak
  - {{name: v2, release: "releases/support-bot", weight: 50}}  # failed the gate in chapter 2
coverage: 100
primary: "feedback:thumbs_up"
secondary: ["conversion:resolved"]
guardrails:
  - {{metric: error_rate, bad: increase}}
  - {{metric: latency_p95, bad: increase}}
alpha: 0.05
min_runtime: {AB_MIN_RUNTIME_S}s
"""

# Chapter 5's customers are SIMULATED, and this is all there is to them: each asks one of these
# questions and knows the true answer (ACME Shop's policy, as releases/support-bot's knowledge
# base states it); an answer is right when it states that fact. A customer gives a thumbs-up to
# a right answer with probability 0.8 and to a wrong one with 0.2, and marks the issue resolved
# with probability 0.7 after a right answer and never after a wrong one. Order questions are
# left out: their answer is a lookup_order call the app would make, not text to judge.
CUSTOMER_QUESTIONS = (
    ("How long does standard shipping take?", "2–4 business days"),
    ("Can I return shoes I bought three weeks ago?", "30 days"),
    ("How long do refunds take?", "within 5 business days"),
    ("I was charged twice for my order", "pre-authorisation"),
    ("Do you offer express delivery?", "1 business day"),
    ("My blender arrived broken, what now?", "photo"),
)
P_THUMBS_UP = {True: 0.8, False: 0.2}
P_RESOLVED = {True: 0.7, False: 0.0}
CUSTOMERS = 300  # distinct user ids: the experiment's units


@dataclasses.dataclass
class ArmTally:
    """What the simulated customers of one arm saw and did (counted client-side)."""

    customers: set[str] = dataclasses.field(default_factory=set)
    answers: int = 0
    right: int = 0
    thumbs_up: int = 0
    resolved: int = 0


class Customers(Traffic):
    """Simulated customers: ask through the gateway, judge the answer, send feedback."""

    def __init__(self, base: str, threads: int = 4) -> None:
        super().__init__(f"{base}/v1", threads)
        self.feedback_url = f"{base}/v1/feedback"
        self.http = httpx.Client(timeout=10)
        self.tally: collections.defaultdict[str, ArmTally] = collections.defaultdict(ArmTally)
        self.samples: list[tuple[str, str, Served, bool, bool]] = []

    def visit(self, rng: random.Random) -> None:
        user = f"customer-{rng.randrange(CUSTOMERS)}"
        question, truth = rng.choice(CUSTOMER_QUESTIONS)
        served = ask(self.client, user, question)
        right = truth in served.text
        liked = rng.random() < P_THUMBS_UP[right]
        resolved = rng.random() < P_RESOLVED[right]
        for name, value in (("thumbs_up", liked), ("resolved", resolved)):
            body = {"request_id": served.request_id, "name": name, "value": int(value)}
            self.http.post(self.feedback_url, json=body).raise_for_status()
        with self.lock:
            tally = self.tally[served.arm]
            tally.customers.add(user)
            tally.answers += 1
            tally.right += right
            tally.thumbs_up += liked
            tally.resolved += resolved
            if len(self.samples) < 5:
                self.samples.append((user, question, served, right, liked))

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.http.close()

    def print_tally(self) -> None:
        console.print("the first answers, as the customers judged them (customer · x-rampway-arm "
                      "· question, then the answer):")
        for user, question, served, right, liked in self.samples:
            truth = dict(CUSTOMER_QUESTIONS)[question]
            console.print(f"  {user} · {served.arm} · {question}", markup=False)
            console.print(f"    → \"{excerpt(served.text, truth, 46)}\"  knows \"{truth}\": "
                          f"{'right' if right else 'wrong'}, thumbs_up={int(liked)}", markup=False)

        def share(n: int, of: int) -> str:
            return f"{n} ({n / of:.0%})" if of else "0"

        console.print("the customers' own tally (client side; the analysis reads the gateway's "
                      "event log instead):")
        table = Table("arm", "customers", "answers", "right answers", "thumbs-up", "resolved")
        for arm, t in sorted(self.tally.items()):
            table.add_row(arm, str(len(t.customers)), str(t.answers), share(t.right, t.answers),
                          share(t.thumbs_up, t.answers), share(t.resolved, t.answers))
        console.print(table)
        console.print(f"client errors: {self.errors}")


def excerpt(text: str, fact: str, width: int = 60) -> str:
    """About `width` characters of `text` around `fact` (its start when the fact is missing)."""
    text = " ".join(text.split())
    at = max(0, text.find(fact) - (width - len(fact)) // 2)
    cut = text[at:at + width]
    return ("…" if at else "") + cut + ("…" if at + width < len(text) else "")


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def experiment_chapter(project: Path) -> None:
    chapter("5. A/B experiment: production vs v2 side by side on live users, then the analysis")
    console.print(
        "The gate failed v2 on cost and latency, and chapter 1 rolled it back because "
        "\"customers prefer v1 tone\" — a hunch. Whether customers like its answers better only "
        "they can say: an experiment serves production and v2 side by side, each user sticky to "
        "one arm, and compares the arms on the users' feedback."
    )
    (project / "experiments" / f"{AB_NAME}.yaml").write_text(AB_EXPERIMENT)
    console.print(f"experiments/{AB_NAME}.yaml (min_runtime {AB_MIN_RUNTIME_S}s: time-compressed "
                  "for the demo; a real experiment runs at least a week)")
    port, sim_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    serve = ["serve", "--with-sim", "--port", str(port), "--sim-port", str(sim_port)]
    with background(serve, project, f"{base}/readyz"):
        run(["experiment", "validate", AB_NAME], project)
        # v2 failed its gate: like a rollout, an experiment arm needs a PASS or an audited
        # override — here the point is to let users decide what the gate could not
        run(["experiment", "start", AB_NAME, "--skip-gate", "--reason",
             "v2 failed its gate on cost and latency; do customers prefer its answers?"],
            project)
        started = time.monotonic()
        time.sleep(1)  # the gateway picks the experiment up within ~0.5 s
        console.print(
            f"\n[bold]{CUSTOMERS} simulated customers[/] (4 threads, seeded) ask FAQ questions "
            "with the openai SDK (user= their id), read x-rampway-arm and rate each answer with "
            "POST /v1/feedback. A simulation, not people: a customer knows the shop's real "
            "policy and gives a thumbs-up to a right answer with probability 0.8, to a wrong one "
            "with 0.2; marks the issue resolved after a right answer with probability 0.7."
        )
        with Customers(base) as customers:
            sleep_until(started + AB_MIN_RUNTIME_S / 2)
            console.print("[bold]half-way, while customers keep coming:[/]")
            run(["experiment", "status", AB_NAME], project)
            sleep_until(started + AB_MIN_RUNTIME_S + 2)
    customers.print_tally()
    console.print(
        "\nThe analysis compares the arms per customer, on the event log: every metric with a "
        "fixed-horizon and an always-valid interval (the latter decides, so it is safe to look "
        "any time); a guardrail that gets worse blocks shipping whatever the primary says."
    )
    run(["experiment", "analyze", AB_NAME], project)
    run(["experiment", "stop", AB_NAME, "--reason", "decided"], project)
    console.print("every user gets production again; the record stays, so status and analyze "
                  "keep working on the stopped window")


AS_OF = "2027-01-10"  # a fixed "today" for the catalog's dates: sim-large is deprecated 2027-02-01


def deprecation_chapter(project: Path) -> None:
    chapter("6. Model deprecation: sim-large goes away; one command makes the successor and "
            "gates it")
    console.print("v2 goes to production after all (sim-large, the FAQ in the prompt: the team "
                  "accepts its cost; an audited override of the gate), and extract-invoice "
                  "launches on v1 (sim-large, JSON mode):")
    run(["channel", "set", "support-bot", "production", "releases/support-bot", "--skip-gate",
         "--reason", "ship v2 for its answers; cost accepted"], project)
    run(["channel", "set", "extract-invoice", "production", "history/extract-invoice/v1",
         "--reason", "first launch of the invoice batch"], project)
    console.print(f"\nThe provider announces sim-large's deprecation (the catalog's dates; "
                  f"'today' is {AS_OF} here):")
    run(["models", "check", "--within", "90d", "--as-of", AS_OF], project, expect=1)
    run(["models", "upgrade", "support-bot", "--as-of", AS_OF, "--sim-inprocess",
         "--concurrency", "64"], project, expect=None)
    console.print("The candidate is production's release with only the model changed, so the "
                  "gate ran the full suite with repeats. The suite does not cover everything real "
                  "users send: chapter 7 mirrors real requests to it first.")


# Chapter 7's shadows, time-compressed: every request is mirrored (sample 100) and half are
# asked of production again (twin 50: the noise floor); a real shadow samples a share of users
# for days (examples/support-bot/shadows/*.yaml).
SHADOW = """\
feature: {feature}
description: "{description}"
candidates: [{candidate}]
sample: 100
twin: 50
budget: {{usd_per_day: 5, requests_per_s: 200}}
ends: 1h
keep_text: true
"""
SHADOWS = (  # name, feature, candidate, description
    ("sim-large-2", "support-bot", "candidates/sim-large-2",
     "the successor on real requests before its first user"),
    ("invoices-sim-large-2", "extract-invoice", "candidates/extract-invoice-sim-large-2",
     "invoice v1 (JSON mode) on the successor"),
    ("same-model", "extract-invoice", "candidates/extract-invoice-same",
     "v1 again, unchanged behaviour (what noise looks like)"),
)
# The burst: support-bot users ask 4 questions each (FAQ, and orders named outright or only
# hinted at), the invoice batch sends 10 invoices per supplier. Seeded: the same every run.
SUPPORT_USERS = 40
SUPPLIERS = 30
INVOICES_EACH = 10
SUPPORT_ASKS = (
    "How long does standard shipping take?",
    "Can I return shoes I bought three weeks ago?",
    "How long do refunds take?",
    "I was charged twice for my order",
    "Where is my order A-{n}?",
    "Any news on the status of A-{n}?",
    "My parcel A-{n} has not arrived yet",
)
VENDORS = ("Nordic Paper Supplies AB", "Kessler Logistik GmbH", "Globex Corporation",
           "Initech LLC", "Umbrella Labs", "Acme Packaging Ltd")


def burst() -> list[tuple[str, str, str]]:
    """(feature, unit, message) for the burst, grouped by unit in send order."""
    rng = random.Random(7)  # noqa: S311 (simulated users, not security)
    support = [("support-bot", f"user-{u}", ask.format(n=rng.randint(10000, 19999)))
               for u in range(SUPPORT_USERS) for ask in rng.sample(SUPPORT_ASKS, 4)]
    return support + [("extract-invoice", f"supplier-{s}", invoice(rng, VENDORS[s % len(VENDORS)]))
                      for s in range(SUPPLIERS) for _ in range(INVOICES_EACH)]


def invoice(rng: random.Random, vendor: str) -> str:
    """The OCR text of a synthetic supplier invoice (no due date: `due_date` is null)."""
    return (f"{vendor}\nInvoice No. INV-2026-{rng.randint(1000, 9999)}\n"
            f"Invoice date: 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}\n"
            f"Total due: {rng.uniform(10, 9000):,.2f} {rng.choice(['EUR', 'USD'])}\n"
            "Bill to: ACME Shop, Hauptstrasse 1, Berlin")


def send_burst(base: str, requests: list[tuple[str, str, str]], threads: int = 8) -> int:
    """Send each unit's requests in order, units in parallel; the number of errors."""
    client = OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
    by_unit: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for feature, unit, message in requests:
        by_unit[unit].append((feature, message))

    def one_unit(unit: str) -> int:
        errors = 0
        for feature, message in by_unit[unit]:
            try:
                client.chat.completions.create(
                    model=feature, messages=[{"role": "user", "content": message}], user=unit)
            except (openai.APIError, httpx.HTTPError):
                errors += 1
        return errors

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one_unit, list(by_unit)))


def shadow_pairs(project: Path, name: str) -> int:
    out = run(["shadow", "status", name, "--json"], project, quiet=True)
    pairs: dict[str, int] = json.loads(out)["pairs"]
    return sum(pairs.values())


def wait_for_pairs(project: Path, names: Sequence[str], limit_s: float = 90) -> None:
    """Until the shadow calls still in flight have landed: no new pair for 3 s."""
    deadline, last, quiet_since = time.monotonic() + limit_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(shadow_pairs(project, name) for name in names)
        if total != last:
            last, quiet_since = total, time.monotonic()
        elif time.monotonic() - quiet_since > 3:
            return
        time.sleep(1)
    raise SystemExit("demo: shadow pairs still arriving after 90 s")


def report_summary(project: Path, name: str) -> dict[str, Any]:
    """The verdict and each class against its floor, from `shadow report --format json`."""
    console.print(f"[bold cyan]$ rampway shadow report {name} --format json[/]  (summarized)")
    doc: dict[str, Any] = json.loads(run(["shadow", "report", name, "--format", "json"], project,
                                         quiet=True))
    console.print(f"  shadow {name}: {doc['verdict_line']}", markup=False, soft_wrap=True)
    for c in doc["classes"][:6]:
        console.print(f"  {c['class']:<26} candidate {c['candidate_rate']:6.1%}   floor (twin) "
                      f"{c['floor_rate']:6.1%}   {'FLAGGED' if c['flagged'] else 'noise'}",
                      markup=False)
    return doc


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file of the scratch project, as a user's edit would."""
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"demo: {path.name} no longer contains {old!r}")
    path.write_text(text.replace(old, new, 1))


def shadow_chapter(project: Path) -> None:
    chapter("7. Shadow traffic: sim-large-2 answers real requests, never served, compared with "
            "production")
    # A shadow compares JSON only on kept texts; these invoices are synthetic, so the demo keeps
    # them (the example keeps none: `retention.prompts: false`).
    edit(project / "rampway.yaml", "prompts: false", "prompts: true  # demo: synthetic invoices")
    # The gateway sheds shadow work once its event loop runs 10 ms late (`gateway.shadow.max_lag`):
    # here one machine runs the users, the gateway and the simulator, so the demo allows 0.5 s.
    edit(project / "rampway.yaml", "gateway:\n", "gateway:\n  shadow: {max_lag: 0.5}\n")
    same = project / "candidates" / "extract-invoice-same"
    shutil.copytree(project / "history" / "extract-invoice" / "v1", same)
    edit(same / "release.yaml", "description: Extracts",
         "description: (Re-published, unchanged.) Extracts")
    for name, feature, candidate, description in SHADOWS:
        (project / "shadows" / f"{name}.yaml").write_text(SHADOW.format(
            feature=feature, candidate=candidate, description=description))
    console.print(
        "shadows/*.yaml, time-compressed (every request mirrored, half of them asked of "
        "production again: the noise floor). sim-large-2 is the 'minor version bump' behind "
        "support-bot (v2) and behind extract-invoice v1; 'same-model' is v1 re-published with "
        "only its description changed: the same model, temperature 0.2, no seed.")
    port, sim_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    serve = ["serve", "--with-sim", "--port", str(port), "--sim-port", str(sim_port)]
    requests = burst()
    with background(serve, project, f"{base}/readyz"):
        run(["shadow", "validate"], project)
        for name, *_ in SHADOWS:
            run(["shadow", "start", name, "--reason", "before any user gets it"], project)
        time.sleep(1)  # gateways pick a shadow up within a second
        started = time.monotonic()
        console.print(f"\n[bold]A burst:[/] {SUPPORT_USERS} support-bot users × 4 questions "
                      f"and {SUPPLIERS} suppliers × {INVOICES_EACH} invoices, 8 threads, "
                      "openai SDK")
        errors = send_burst(base, requests)
        console.print(f"{len(requests)} requests served in {time.monotonic() - started:.1f} s, "
                      f"client errors: {errors}; the shadow calls run after each answer")
        wait_for_pairs(project, [name for name, *_ in SHADOWS])
        run(["shadow", "status", "sim-large-2"], project)
        for name, *_ in SHADOWS:
            run(["shadow", "stop", name, "--reason", "burst done"], project, quiet=True)
    console.print("\n[bold]support-bot: what sim-large-2 would have answered differently[/]")
    run(["shadow", "report", "sim-large-2"], project)
    console.print("\n[bold]extract-invoice v1 on sim-large-2, and v1 against itself[/]")
    invoices = report_summary(project, "invoices-sim-large-2")
    report_summary(project, "same-model")
    broken = [c["class"] for c in invoices["flagged"] if c["class"].startswith("failure:")]
    console.print("v1 differs from itself on a few fields (temperature 0.2, no seed): that is "
                  "the floor, and the equivalent release stays within it. " + (
                      f"sim-large-2 fails beyond it ({', '.join(broken)}): a strict json_schema "
                      "(releases/extract-invoice) is what holds it." if broken else
                      "sim-large-2's JSON failures stay within the noise at this sample: keep "
                      "mirroring before trusting it with the batch."))


# Chapter 8's rollout: slow enough to watch a step advance and a guardrail chart fill in.
WATCH_PLAN = """\
# The demo's last rollout, time-compressed so that a person can watch it: 45 s per step.
baseline: production
unit: user
alpha: 0.05
steps:
  - {weight: 5, dwell: 45s}
  - {weight: 25, dwell: 45s}
  - {weight: 50, dwell: 45s}
  - {weight: 100}
guardrails:
  - {metric: error_rate, margin: {relative: 0.5}, critical: true, min_sample: 40}
  - {metric: latency_p95, margin: {relative: 0.3}, critical: true, min_sample: 40}
"""


def dashboard_ending(project: Path) -> None:
    """Keep serving with a rollout running, so a newcomer can watch it in the dashboard.

    `DEMO_EXIT=1` skips this (the story ends with chapter 7); `DEMO_HOLD_S=N` serves for N
    seconds instead of until Ctrl-C (the test suite's way to check that the page answers)."""
    if os.environ.get("DEMO_EXIT") == "1":
        return
    hold = float(os.environ.get("DEMO_HOLD_S", "0")) or None
    chapter("8. Watch it: the dashboard, with a rollout running in compressed time")
    (project / "rollouts" / "watch.yaml").write_text(WATCH_PLAN)
    tweak = project / "candidates" / "never-invent"
    shutil.copytree(project / "releases" / "support-bot", tweak)
    edit(tweak / "prompts" / "system.md", "Do not invent policies", "Never invent policies")
    created = run(["api-keys", "create", "demo-viewer", "--role", "viewer",
                   "--reason", "demo: watch the dashboard", "--json"], project, quiet=True)
    key = json.loads(created)["key"]
    port, sim_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    serve = ["serve", "--with-sim", "--port", str(port), "--sim-port", str(sim_port),
             "--controller-interval", "1"]
    with background(serve, project, f"{base}/readyz"), Traffic(f"{base}/v1", threads=2):
        start_gated(project, "candidates/never-invent", "firmer wording", plan="watch")
        console.print(f"\n[bold]Open {base}/ui/ and sign in with this viewer key:[/]")
        console.print(key, markup=False)
        console.print(f"the rollout: {base}/ui/rollouts/support-bot — steps of 45 s, users "
                      "keep coming; " + ("Ctrl-C ends the demo" if hold is None else
                                         f"serving for {hold:g} s"))
        check_dashboard(base, key)
        try:
            watch_rollout(project, until=hold if hold is not None else math.inf, quiet_end=True)
        except KeyboardInterrupt:
            console.print("\nstopping the gateway")


def check_dashboard(base: str, key: str) -> None:
    """Sign in as the viewer and read the rollout page, as the person will."""
    with httpx.Client(base_url=base, timeout=30) as ui:
        ui.post("/ui/login", data={"key": key, "next": "/ui/"})
        page = ui.get("/ui/rollouts/support-bot")
    console.print(f"dashboard check: /ui/rollouts/support-bot answered {page.status_code} for "
                  "the viewer key")


def store_release_id(project: Path, ref: str) -> str:
    out = run(["release", "show", "support-bot", ref, "--json"], project, quiet=True)
    release_id: str = json.loads(out)["id"]
    return release_id


def prepare(workdir: Path) -> Path:
    project = workdir / "support-bot"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".rampway"))
    return project


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rampway-demo-") as tmp:
        project = prepare(Path(tmp))
        console.print(f"demo project: {project} (a copy of examples/support-bot)")
        console.print("eight chapters: releases, the eval gate, the gateway, staged rollouts, "
                      "an A/B experiment, a model deprecation, shadow traffic, and the "
                      "dashboard to watch a rollout")
        releases_chapter(project)
        gate_chapter(project)
        gateway_chapter(project)
        rollout_chapter(project)
        experiment_chapter(project)
        deprecation_chapter(project)
        shadow_chapter(project)
        dashboard_ending(project)
    console.print("\n[bold green]demo finished[/]")


if __name__ == "__main__":
    main()
