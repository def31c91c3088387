"""Running a gate: resolve both releases, eval both on the same suite, compare, decide.

This is the I/O layer around the pure `compare`, `decide` and the look plan of
`rampway.gate.sequential`. Both releases are run with the same cases and repeats (the larger
default of the two to start with), through the same router, look after look — cases, then
repeats, double — until the decision is PASS or FAIL or the policy's budget is spent. The
response cache means a baseline evaluated before costs nothing the second time, and a look
re-uses the previous look's answers. A candidate never reads the baseline's answers: when it
*is* the baseline (same digest), it is run as an independent sample (`repeat_offset`: its own
seeds, its own calls). Every comparison that finishes is recorded in the store
(`rampway.gate.records`): that record is what `rampway rollout start` requires.

A feature's first release (no `--baseline`, and its `production` channel has never been set)
has nothing to be compared with: it is gated against an independent run of itself, and the
report says so (`first_release`). That checks what can be checked before anything is live —
the suite runs, every answer is scored, the policy can decide at this release's noise — and
the first release then goes live with `rampway channel set` (an empty channel is unprotected).

    report = await gate_feature(ctx, "support-bot", candidate="releases/support-bot")
    report.decision.verdict        # Verdict.PASS / FAIL / INCONCLUSIVE
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rampway.config import Project
from rampway.errors import ConfigError, ProviderError, RefError
from rampway.evals._located import config_error, load_located, validate_located
from rampway.evals.results import CaseResult, EvalRun
from rampway.evals.runner import Complete, EvalRunner, Progress, RunOptions, default_repeats
from rampway.evals.storage import EvalStore
from rampway.evals.suite import PASS_RATE, Suite, require_suite
from rampway.gate.compare import compare
from rampway.gate.model import BUILTIN_AXES, GateInput, Kind, Verdict
from rampway.gate.policy import Decision, Policy, check_policy, decide, default_policy
from rampway.gate.records import record_gate
from rampway.gate.report import GateReport
from rampway.gate.sequential import (
    Look,
    LookRecord,
    SequentialSummary,
    Spend,
    advice,
    look_confidence,
    over_budget,
    plan_looks,
)
from rampway.release import Release, discover, resolve_ref
from rampway.store import Store

DEFAULT_BASELINE = "production"
DEFAULT_ACTOR = "rampway-gate"
OnResult = Callable[[str, Progress, CaseResult], None]
INDEPENDENT_OFFSET = 1_000_000  # repeat offset of a candidate that is the baseline itself
#: Repeats at least, when only the model changed: one answer per case says little about a model.
MODEL_SWAP_REPEATS = 3


@dataclass(slots=True)
class GateContext:
    project: Project
    store: Store
    complete: Complete
    on_result: OnResult | None = None
    actor: str = DEFAULT_ACTOR  # who ran the gate, kept with the recorded decision


def policy_path(project_root: Path, feature: str) -> Path:
    return project_root / "policies" / f"{feature}.yaml"


def axis_kinds(suite: Suite) -> dict[str, Kind]:
    kinds: dict[str, Kind] = dict.fromkeys(suite.metric_names, "quality")
    kinds["cost"] = "cost"
    kinds.update({a: "latency" for a in BUILTIN_AXES if a.startswith("latency")})
    return kinds


def load_policy(project_root: Path, feature: str, suite: Suite) -> tuple[Policy, str]:
    """The feature's policy file, checked against the suite's metrics; else the default."""
    path = policy_path(project_root, feature)
    if not path.is_file():
        quality = [m for m in suite.metric_names if m != PASS_RATE]
        return default_policy(quality), "default policy"
    shown = str(path.relative_to(project_root))
    doc = load_located(path, shown)
    if not isinstance(doc.data, dict):
        raise config_error(doc.where(), "a policy must be a YAML mapping")
    policy = validate_located(Policy, doc)
    loc, problem = check_policy(policy, axis_kinds(suite))
    if problem:
        raise config_error(doc.where(loc), problem)
    return policy, shown


async def eval_release(
    ctx: GateContext, suite: Suite, release: Release, options: RunOptions, label: str = ""
) -> EvalRun:
    def report(progress: Progress, result: CaseResult) -> None:
        if ctx.on_result is not None:
            ctx.on_result(label or release.id, progress, result)

    runner = EvalRunner(ctx.complete, EvalStore(ctx.store), on_result=report)
    return await runner.run(suite, release, options)


async def gate_feature(
    ctx: GateContext,
    feature: str,
    candidate: str | None,
    baseline: str | None = None,
    options: RunOptions | None = None,
    *,
    sample: int = 1,
) -> GateReport:
    """Eval baseline and candidate look by look, apply the policy, record the decision.

    A candidate that is the baseline itself is run as independent sample number `sample`
    (its own seeds and cache keys): a re-evaluation after a provider drift passes a new number
    each time, so it makes fresh calls and compares them with the answers cached before.
    Bad input (unknown refs, suite or policy errors, incomplete runs) raises before anything is
    recorded; a finished comparison is recorded whatever its verdict.
    """
    suite = require_suite(ctx.project.root, feature)
    policy, source = load_policy(ctx.project.root, feature, suite)
    cand = resolve_ref(ctx.project, feature, candidate, ctx.store)
    first = baseline is None and ctx.store.get_channel(feature, DEFAULT_BASELINE) is None
    base = cand if first else _baseline(ctx, feature, baseline)
    opts = options or RunOptions()
    repeats = opts.repeats or max(default_repeats(suite, base), default_repeats(suite, cand))
    swap = model_swap(base, cand)
    settings = policy.sequential
    if swap is not None:  # a new model is a behaviour change everywhere: no sampled first look
        repeats = max(repeats, MODEL_SWAP_REPEATS)
        settings = settings.model_copy(update={"first_cases": None})
    looks = plan_looks(len(suite.cases), repeats, settings)
    if len(suite.cases) < policy.min_cases:
        looks = looks[:1]  # more repeats cannot make up for cases the suite does not have
    if sample < 1:
        raise ConfigError(f"sample must be ≥ 1, got {sample}")
    offset = INDEPENDENT_OFFSET * sample if cand.digest == base.digest else 0
    data, decision, summary = await _look_until_decided(
        ctx, suite, (base, cand, offset), opts, looks, policy
    )
    report = GateReport(data=data, policy=policy, decision=decision, policy_source=source,
                        suite_digest=suite.digest, sequential=summary, model_swap=swap,
                        first_release=first)
    record_gate(ctx.store, report, actor=ctx.actor)
    return report


async def _look_until_decided(
    ctx: GateContext,
    suite: Suite,
    pair: tuple[Release, Release, int],
    opts: RunOptions,
    looks: tuple[Look, ...],
    policy: Policy,
) -> tuple[GateInput, Decision, SequentialSummary]:
    """Look after look until PASS/FAIL, the last planned look, or the budget's end."""
    level = look_confidence(policy.confidence, len(looks))
    spent, records = Spend(), []
    stopped = "looks used up"
    for i, look in enumerate(looks):
        data, decision, cost = await _look(ctx, suite, pair, replace(opts, repeats=look.repeats),
                                           look, level, policy)
        spent += cost
        records.append(LookRecord(look.index, data.n_cases, look.repeats, level,
                                  decision.verdict, 2 * data.n_cases * look.repeats, cost.calls))
        if decision.verdict is not Verdict.INCONCLUSIVE:
            stopped = "decided"
            break
        following = looks[i + 1 : i + 2]
        overrun = over_budget(policy.sequential, spent, look, following[0]) if following else None
        if overrun is not None:
            stopped = f"budget: the next look would overrun the {overrun}"
            break
    summary = SequentialSummary(len(looks), tuple(records), stopped, spent,
                                advice(decision, dict(data.axes), records[-1].evaluations))
    return data, decision, summary


async def _look(
    ctx: GateContext,
    suite: Suite,
    pair: tuple[Release, Release, int],
    opts: RunOptions,
    look: Look,
    level: float,
    policy: Policy,
) -> tuple[GateInput, Decision, Spend]:
    """One look: both releases on the look's cases and repeats, compared and decided."""
    base, cand, offset = pair
    sample = sample_cases(suite, look.cases)
    started = time.monotonic()
    base_run = await eval_release(ctx, sample, base, opts, f"baseline {base.id}")
    cand_opts = replace(opts, repeat_offset=offset)
    cand_run = await eval_release(ctx, sample, cand, cand_opts, f"candidate {cand.id}")
    if not (base_run.complete and cand_run.complete):
        raise ConfigError("eval runs did not complete; re-run to resume them")
    for name, run in (("baseline", base_run), ("candidate", cand_run)):
        _require_answers(name, run)
    data = compare(base_run, cand_run, level)
    calls = sum(not r.cached for r in (*base_run.results, *cand_run.results))
    cost = Spend(calls, base_run.spent_usd + cand_run.spent_usd, time.monotonic() - started)
    return data, decide(policy, data), cost


def model_swap(base: Release, cand: Release) -> str | None:
    """`sim/sim-large → sim/sim-large-2` when the models are all that changed, else None.

    Params may differ too (an upgrade drops those the new model refuses); prompts, tools,
    response format and everything else must be equal. Such a candidate is gated on the whole
    suite with at least MODEL_SWAP_REPEATS repeats, whatever the policy's `first_cases` or the
    caller's `--repeats`: "A new model is a behaviour change, not a drop-in upgrade".
    """
    if base.models == cand.models or base.files != cand.files:
        return None
    skip = {"provider", "model", "fallbacks", "params"}
    a, b = base.spec.to_json(), cand.spec.to_json()
    if {k: v for k, v in a.items() if k not in skip} != {
        k: v for k, v in b.items() if k not in skip
    }:
        return None

    def names(release: Release) -> str:
        return ", ".join(f"{p}/{m}" for p, m in release.models)

    return f"{names(base)} → {names(cand)}"


def sample_cases(suite: Suite, n: int) -> Suite:
    """The first `n` cases in a fixed pseudo-random order, critical cases first; all if n ≥ size.

    The order hashes case ids, so the sample is the same for both releases and every run, and
    growing `n` keeps the cases already drawn.
    """
    if n >= len(suite.cases):
        return suite

    def order(case_id: str, critical: bool) -> tuple[bool, str]:
        return (not critical, hashlib.sha256(case_id.encode()).hexdigest())

    chosen = sorted(suite.cases, key=lambda c: order(c.id, c.critical))[:n]
    ids = ",".join(sorted(c.id for c in chosen))
    digest = hashlib.sha256(f"{suite.digest}|{ids}".encode()).hexdigest()
    keep = {c.id for c in chosen}
    return replace(suite, cases=tuple(c for c in suite.cases if c.id in keep), digest=digest)


def _require_answers(name: str, run: EvalRun) -> None:
    """A run where every call failed measures the provider, not the release: nothing to compare."""
    errors = [r.error for r in run.results]
    if errors and all(errors):
        # Later calls are refused by the open breaker; the error before that says what is wrong.
        cause = next((e for e in errors if e and not e.startswith("circuit_open")), errors[0])
        raise ProviderError(
            f"every eval call of the {name} {run.release_id} failed ({cause}); "
            "is its provider reachable? nothing was recorded"
        )


def _baseline(ctx: GateContext, feature: str, ref: str | None) -> Release:
    try:
        return resolve_ref(ctx.project, feature, ref or DEFAULT_BASELINE, ctx.store)
    except RefError as exc:
        if ref is None:
            raise RefError(
                f"no baseline for {feature!r}: the {DEFAULT_BASELINE!r} channel is not set "
                "(publish and `rampway channel set`, or pass --baseline REF, e.g. origin/main)"
            ) from exc
        raise


def changed_features(project: Project, since: str, store: Store | None) -> list[str]:
    """Features whose working-tree release differs from the one at `since` (new ones too)."""
    changed = []
    for feature in discover(project.root):
        current = resolve_ref(project, feature, None, store)
        try:
            before: Any = resolve_ref(project, feature, since, store)
        except RefError:
            before = None
        if before is None or before.digest != current.digest:
            changed.append(feature)
    return changed
