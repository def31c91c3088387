"""The eval runner: a suite against one release, every case × repeat, concurrently.

    runner = EvalRunner(router.complete, EvalStore(store))
    run = await runner.run(suite, release, RunOptions(concurrency=32))

Why it is shaped like this:
- N worker tasks pull jobs from one iterator (no task per call, no queue): memory stays flat
  and the per-call bookkeeping is a few dict operations.
- Concurrency adapts: a 429 that survives the router's own retries halves the number of
  active workers and waits `Retry-After`; successes grow it back one at a time (AIMD).
- Each answer is cached under sha256(release digest, case input hash, repeat), so re-running
  an unchanged release makes no calls; the original cost and latency are still reported.
- Results are written in batches as they finish; the run is marked complete only when every
  (case, repeat) has a result, so an interrupted run resumes where it stopped.
- Repeat r is sent with seed = (release seed or 0) + r: deterministic per repeat, different
  across repeats. `RunOptions.repeat_offset` shifts both the seed and the cache key: a second,
  independent sample of the *same* release (the gate's candidate when it equals the baseline)
  then makes its own calls instead of reading the first sample's answers back from the cache —
  a cached answer is never a repeat.
- Latency is the one the provider reports for the call (every adapter measures its own request;
  the in-process sim reports its simulated server time, 0 when it runs instantly), not a clock
  around `complete`: on a loaded CI machine that clock also measures this process's queueing
  (scoring, flushing, other calls' CPU), and the gate would compare the machine's load.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from rampway.errors import ConfigError, ProviderError, RampwayError, RateLimited
from rampway.evals.results import CaseResult, EvalRun, failed_scores, roll_up
from rampway.evals.scorers import JudgeScorer, Output, Score
from rampway.evals.storage import CachedCall, EvalStore, RunKey
from rampway.evals.suite import Case, Suite
from rampway.providers.types import ChatRequest, Message, ToolCall, Usage
from rampway.release._spec import INPUT_VARIABLE
from rampway.router import RoutedResponse, Target

OUTPUT_CHARS = 2000


class ReleaseLike(Protocol):
    """What the runner needs of a `rampway.release.Release`."""

    @property
    def feature(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def spec(self) -> Any: ...
    @property
    def models(self) -> list[tuple[str, str]]: ...
    def render(
        self, variables: Mapping[str, object], user_message: str | None = None
    ) -> list[Message]: ...
    def base_request(self, messages: list[Message]) -> ChatRequest: ...


Complete = Callable[[ChatRequest, Sequence[Target]], Awaitable[RoutedResponse]]


@dataclass(frozen=True, slots=True)
class RunOptions:
    repeats: int | None = None
    concurrency: int = 16
    repeat_offset: int = 0  # ≠ 0: an independent sample (own seeds, own cache keys, no resume)
    rate_limit_retries: int = 8
    flush_every: int = 200
    flush_interval_s: float = 0.5


@dataclass(slots=True)
class Progress:
    """Running totals the CLI shows; `on_result` is called after each result."""

    total: int = 0
    done: int = 0
    spent_usd: float = 0.0
    cached: int = 0
    errors: int = 0
    concurrency: int = 0


def default_repeats(suite: Suite, release: ReleaseLike) -> int:
    """Suite setting, else 3 when sampling is random (temperature > 0 or unset), else 1."""
    if suite.repeats:
        return suite.repeats
    temperature = release.spec.params.temperature
    return 1 if temperature == 0 else 3


def cache_key(release_digest: str, input_hash: str, repeat: int) -> str:
    return hashlib.sha256(f"{release_digest}|{input_hash}|{repeat}".encode()).hexdigest()


def judge_group(provider: str, model: str) -> str:
    return hashlib.sha256(f"judge|{provider}|{model}".encode()).hexdigest()


# ---------------------------------------------------------------- preparing requests (pure)


def prepare_messages(suite: Suite, release: ReleaseLike) -> dict[str, list[Message]]:
    """Render every case before any call; a bad case is a ConfigError naming its file:line."""
    declared = set(release.spec.variables)
    prepared: dict[str, list[Message]] = {}
    for case in suite.cases:
        unknown = sorted(set(case.vars) - declared - {INPUT_VARIABLE})
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise ConfigError(
                f"{case.where}: case {case.id!r} sets unknown variable(s) {', '.join(unknown)} "
                f"(release {release.id} declares: {known})"
            )
        try:
            prepared[case.id] = _case_messages(case, release)
        except RampwayError as exc:
            raise ConfigError(f"{case.where}: case {case.id!r}: {exc.message}") from exc
    return prepared


def _case_messages(case: Case, release: ReleaseLike) -> list[Message]:
    variables = dict(case.vars)
    user = case.input if case.input is not None else variables.pop(INPUT_VARIABLE, None)
    if not case.messages:
        return release.render(variables, None if user is None else str(user))
    turns = list(case.messages)
    if release.spec.messages.user is not None and turns[-1].role == "user":
        rendered = release.render(variables, turns[-1].content)
        return [*rendered[:-1], *turns[:-1], rendered[-1]]
    return [*release.render(variables, None), *turns]


def response_json(routed: RoutedResponse) -> dict[str, Any]:
    r = routed.response
    return {
        "content": r.content or "",
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in r.tool_calls or ()
        ],
        "refusal": r.refusal,
        "finish_reason": r.finish_reason,
        "usage": [r.usage.input_tokens, r.usage.output_tokens, r.usage.cached_tokens],
        "served_by": str(routed.served_by),
    }


def output_of(response: Mapping[str, Any]) -> Output:
    usage = response.get("usage") or [0, 0, 0]
    return Output(
        content=response.get("content") or "",
        tool_calls=tuple(
            ToolCall(c["id"], c["name"], c["arguments"]) for c in response.get("tool_calls", ())
        ),
        refusal=response.get("refusal"),
        finish_reason=response.get("finish_reason", "stop"),
        output_tokens=int(Usage(*usage).output_tokens),
    )


def shown_output(output: Output) -> str:
    calls = "; ".join(f"{c.name}({c.arguments})" for c in output.tool_calls)
    text = output.content if not calls else f"{output.content}\n[tool] {calls}".strip()
    return text[:OUTPUT_CHARS]


# ---------------------------------------------------------------- concurrency


class AdaptiveLimit:
    """How many workers may call right now: halves on 429, +1 per `grow_after` successes."""

    def __init__(self, maximum: int, grow_after: int = 8) -> None:
        self.maximum = maximum
        self.limit = maximum
        self._grow_after = grow_after
        self._successes = 0
        self._resume_at = 0.0
        self._grown = asyncio.Event()
        self._closed = False

    def allows(self, worker: int) -> bool:
        return worker < self.limit

    async def wait_turn(self, worker: int) -> None:
        """Wait until this worker may take a job (or the work is over)."""
        while worker >= self.limit and not self._closed:
            self._grown.clear()
            await self._grown.wait()
        await self.wait_backoff()

    async def wait_backoff(self) -> None:
        delay = self._resume_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def close(self) -> None:
        """No jobs left: release parked workers so they can see that and exit."""
        self._closed = True
        self._grown.set()

    def rate_limited(self, retry_after: float | None) -> float:
        """Shrink; returns how long to wait before retrying."""
        self.limit = max(1, self.limit // 2)
        self._successes = 0
        wait = retry_after if retry_after is not None else 1.0
        self._resume_at = max(self._resume_at, time.monotonic() + wait)
        return wait

    def succeeded(self) -> None:
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self._grow_after:
            self._successes = 0
            self.limit += 1
            self._grown.set()


# ---------------------------------------------------------------- the runner


@dataclass(slots=True)
class _Job:
    case: Case
    repeat: int
    key: str
    draw: int  # repeat + the run's repeat_offset: what the seed and the cache key use


@dataclass(slots=True)
class _State:
    suite: Suite
    release: ReleaseLike
    messages: dict[str, list[Message]]
    targets: list[Target]
    cache: dict[str, CachedCall]
    judge_cache: dict[str, dict[str, CachedCall]]
    limit: AdaptiveLimit
    progress: Progress
    results: list[CaseResult] = field(default_factory=list)
    pending: list[tuple[str, CaseResult]] = field(default_factory=list)
    new_cache: list[tuple[str, str, str, CachedCall]] = field(default_factory=list)
    seed_base: int = 0
    run_id: str = ""


class EvalRunner:
    def __init__(
        self,
        complete: Complete,
        store: EvalStore | None = None,
        *,
        on_result: Callable[[Progress, CaseResult], None] | None = None,
    ) -> None:
        self._complete = complete
        self._store = store
        self._on_result = on_result

    async def run(self, suite: Suite, release: ReleaseLike, options: RunOptions) -> EvalRun:
        if options.concurrency < 1:
            raise ConfigError(f"concurrency must be ≥ 1, got {options.concurrency}")
        repeats = options.repeats or default_repeats(suite, release)
        if repeats < 1:
            raise ConfigError(f"repeats must be ≥ 1, got {repeats}")
        messages = prepare_messages(suite, release)
        run = self._new_run(suite, release, repeats)
        done: dict[tuple[str, int], CaseResult] = {}
        if options.repeat_offset < 0:
            raise ConfigError(f"repeat_offset must be ≥ 0, got {options.repeat_offset}")
        if self._store is not None:
            resume = options.repeat_offset == 0
            run.run_id, done = await asyncio.to_thread(self._store.open_run, _run_key(run), resume)
        state = await self._state(suite, release, messages, options, repeats)
        state.run_id = run.run_id
        state.results.extend(done.values())
        jobs = list(self._jobs(suite, release, repeats, done, options.repeat_offset))
        state.progress.done = len(done)
        await self._execute(state, jobs, options)
        run.results = sorted(state.results, key=lambda r: (r.case_id, r.repeat))
        run.spent_usd = state.progress.spent_usd
        run.complete = len(run.results) == len(suite.cases) * repeats
        if self._store is not None and run.complete:
            await asyncio.to_thread(self._store.complete_run, run.run_id, run.summary())
        return run

    def _new_run(self, suite: Suite, release: ReleaseLike, repeats: int) -> EvalRun:
        return EvalRun(
            run_id="",
            feature=suite.feature,
            release_id=release.id,
            release_digest=release.digest,
            suite_digest=suite.digest,
            traffic_class=str(release.spec.traffic_class),
            repeats=repeats,
            metric_names=suite.metric_names,
            case_weights={c.id: c.weight for c in suite.cases},
            critical=frozenset(c.id for c in suite.cases if c.critical),
        )

    async def _state(
        self,
        suite: Suite,
        release: ReleaseLike,
        messages: dict[str, list[Message]],
        options: RunOptions,
        repeats: int,
    ) -> _State:
        cache: dict[str, CachedCall] = {}
        judge_cache: dict[str, dict[str, CachedCall]] = {}
        if self._store is not None:
            cache = await asyncio.to_thread(self._store.load_cache, release.digest)
            for group in {self._judge_group(s.spec, release) for s in _judges(suite)}:
                judge_cache[group] = await asyncio.to_thread(self._store.load_cache, group)
        limit = AdaptiveLimit(options.concurrency)
        return _State(
            suite=suite,
            release=release,
            messages=messages,
            targets=[Target(p, m) for p, m in release.models],
            cache=cache,
            judge_cache=judge_cache,
            limit=limit,
            progress=Progress(total=len(suite.cases) * repeats, concurrency=limit.limit),
            seed_base=release.spec.params.seed or 0,
        )

    @staticmethod
    def _jobs(
        suite: Suite,
        release: ReleaseLike,
        repeats: int,
        done: Mapping[tuple[str, int], Any],
        offset: int = 0,
    ) -> Iterator[_Job]:
        for case in suite.cases:
            for repeat in range(repeats):
                if (case.id, repeat) not in done:
                    key = cache_key(release.digest, case.input_hash, offset + repeat)
                    yield _Job(case, repeat, key, offset + repeat)

    async def _execute(self, state: _State, jobs: list[_Job], options: RunOptions) -> None:
        source = iter(jobs)
        flush_needed = asyncio.Event()
        stop = asyncio.Event()
        flusher = asyncio.create_task(self._flusher(state, options, flush_needed, stop))
        workers = [
            asyncio.create_task(self._worker(i, state, source, options, flush_needed))
            for i in range(min(options.concurrency, max(len(jobs), 1)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            stop.set()
            flush_needed.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await asyncio.to_thread(self._flush, state)

    async def _worker(
        self,
        index: int,
        state: _State,
        source: Iterator[_Job],
        options: RunOptions,
        flush_needed: asyncio.Event,
    ) -> None:
        while True:
            await state.limit.wait_turn(index)
            job = next(source, None)
            if job is None:
                state.limit.close()
                return
            result = await self._one(index, state, job, options)
            state.results.append(result)
            state.pending.append((job.key, result))
            progress = state.progress
            progress.done += 1
            progress.concurrency = state.limit.limit
            if self._on_result is not None:
                self._on_result(progress, result)
            if len(state.pending) >= options.flush_every:
                flush_needed.set()

    async def _flusher(
        self, state: _State, options: RunOptions, flush_needed: asyncio.Event, stop: asyncio.Event
    ) -> None:
        if self._store is None:
            return
        while not stop.is_set():
            try:
                await asyncio.wait_for(flush_needed.wait(), options.flush_interval_s)
            except TimeoutError:
                pass
            flush_needed.clear()
            if state.pending or state.new_cache:
                await asyncio.to_thread(self._flush, state)

    def _flush(self, state: _State) -> None:
        """Write what finished so far: cache entries first, then the results that use them."""
        if self._store is None:
            return
        cache, state.new_cache = state.new_cache, []
        pending, state.pending = state.pending, []
        self._store.put_cache(cache)
        self._store.save_results(state.run_id, pending)

    async def _one(self, index: int, state: _State, job: _Job, options: RunOptions) -> CaseResult:
        cached = state.cache.get(job.key)
        if cached is not None:
            state.progress.cached += 1
            return await self._score(state, job, cached, cached=True)
        try:
            call = await self._call(state, job, options)
        except ProviderError as exc:
            state.progress.errors += 1
            return self._error_result(state, job, exc)
        state.cache[job.key] = call
        state.new_cache.append((job.key, "response", state.release.digest, call))
        state.progress.spent_usd += call.cost_usd
        return await self._score(state, job, call, cached=False)

    async def _call(self, state: _State, job: _Job, options: RunOptions) -> CachedCall:
        request = state.release.base_request(list(state.messages[job.case.id]))
        request.seed = state.seed_base + job.draw
        for attempt in range(options.rate_limit_retries + 1):
            await state.limit.wait_backoff()
            try:
                routed = await self._complete(request, state.targets)
            except RateLimited as exc:
                if attempt == options.rate_limit_retries:
                    raise
                await asyncio.sleep(state.limit.rate_limited(exc.retry_after))
                continue
            state.limit.succeeded()
            latency = routed.response.latency_s
            return CachedCall(response_json(routed), routed.cost_usd, latency)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _score(self, state: _State, job: _Job, call: CachedCall, cached: bool) -> CaseResult:
        output = replace(output_of(call.response), cost_usd=call.cost_usd,
                         latency_s=call.latency_s)
        view = job.case.view()
        scores: dict[str, Score] = {}
        for name, scorer in state.suite.scorers.items():
            if not scorer.applies(job.case):
                continue
            if isinstance(scorer.spec, JudgeScorer):
                scores[name] = await self._judge(state, scorer.spec, name, output, view)
                continue
            score = scorer.score(output, view)
            if score is not None:
                scores[name] = score
        metrics, passed = roll_up(state.suite, scores, None)
        return CaseResult(
            case_id=job.case.id,
            repeat=job.repeat,
            scores=scores,
            metrics=metrics,
            passed=passed,
            cost_usd=call.cost_usd,
            latency_s=call.latency_s,
            output=shown_output(output),
            cached=cached,
            served_by=str(call.response.get("served_by", "")),
        )

    def _error_result(self, state: _State, job: _Job, exc: ProviderError) -> CaseResult:
        names = [n for n, s in state.suite.scorers.items() if s.applies(job.case)]
        scores = failed_scores(names, exc.code)
        metrics, passed = roll_up(state.suite, scores, exc.message)
        return CaseResult(
            case_id=job.case.id,
            repeat=job.repeat,
            scores=scores,
            metrics=metrics,
            passed=passed,
            cost_usd=0.0,
            latency_s=0.0,
            error=f"{exc.code}: {exc.message}",
        )

    def _judge_group(self, spec: JudgeScorer, release: ReleaseLike) -> str:
        return judge_group(spec.provider or release.spec.provider, spec.model)

    async def _judge(
        self, state: _State, spec: JudgeScorer, name: str, output: Output, view: Any
    ) -> Score:
        provider = spec.provider or state.release.spec.provider
        prompt = spec.prompt(name, output, view)
        group = judge_group(provider, spec.model)
        key = hashlib.sha256(f"{group}|{prompt}".encode()).hexdigest()
        cache = state.judge_cache.setdefault(group, {})
        hit = cache.get(key)
        if hit is None:
            request = ChatRequest(
                model=spec.model,
                messages=[Message("user", prompt)],
                temperature=0.0,
                seed=0,
                max_tokens=32,
            )
            try:
                routed = await self._complete(request, [Target(provider, spec.model)])
            except ProviderError as exc:
                return Score(0.0, False, f"judge call failed: {exc.code}")
            hit = CachedCall(response_json(routed), routed.cost_usd, routed.response.latency_s)
            cache[key] = hit
            state.new_cache.append((key, "judge", group, hit))
            state.progress.spent_usd += hit.cost_usd
        return spec.parse(str(hit.response.get("content") or ""))


def _judges(suite: Suite) -> list[Any]:
    return [s for s in suite.scorers.values() if isinstance(s.spec, JudgeScorer)]


def _run_key(run: EvalRun) -> RunKey:
    return RunKey(
        feature=run.feature,
        release_id=run.release_id,
        release_digest=run.release_digest,
        suite_digest=run.suite_digest,
        repeats=run.repeats,
        traffic_class=run.traffic_class,
    )


__all__ = [
    "AdaptiveLimit",
    "EvalRunner",
    "Progress",
    "RunOptions",
    "cache_key",
    "default_repeats",
    "prepare_messages",
]
