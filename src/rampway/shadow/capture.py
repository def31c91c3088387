"""Shadow capture: a pipeline hook that mirrors sampled calls to candidates, off the served path.

    primary call ─▶ hooks.after_call ─▶ ShadowCapture.after_call   (sample, condition, budget:
                                         │                          a few dict lookups and a hash)
                                         └─▶ bounded queue ─▶ workers ─▶ shadow router ─▶ candidate
                                                                      └─▶ PairWriter ─▶ shadow_pairs

`after_call` runs once the primary answer is complete (for a stream: after its last chunk went
out), so the served request has nothing left to wait for; it only decides and enqueues. Worker
tasks render the same app input (messages, vars, tools, unit) through the candidate release
and call it through a router of their own: separate circuit breakers, no retries, so shadow
traffic never opens or half-opens a breaker the primary relies on, and a shadow call never
writes the primary's event row (the shadow pipeline has no event hook). Every shadow outcome —
an error, a timeout, a hang cut at the shadow's `timeout` — becomes a pair row and nothing else.

Under load shadow work is shed first: a full queue, or an event loop running late (a probe
task measures how late its 50 ms sleeps wake; past `max_lag_s` the process is CPU-bound and
every shadow call would delay served requests), drops the new job and counts it (`shed`);
a reached budget (USD per UTC day across the fleet, shadow calls per second in this process)
drops it as `over_budget`; a shadow past its end time as `expired`. The counts land on the
shadow's row (`rampway shadow status`) and in `rampway_shadow_skipped_total{shadow,reason}`.

A primary served by a kill switch's fallback text or cut by its client is not mirrored: there
is no comparable answer. A primary's provider error is: failure modes are part of the
comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from rampway.errors import RampwayError
from rampway.events.model import hash_unit
from rampway.gateway.call import CallRecord
from rampway.gateway.eventlog import response_text, tool_call_records
from rampway.gateway.hooks import Hook, Hooks
from rampway.gateway.pipeline import Pipeline, SnapshotSource, build_request
from rampway.gateway.resolve import Resolution
from rampway.router import RetryPolicy, Router
from rampway.shadow.active import ActiveShadow
from rampway.shadow.pairs import PairRow, PairWriter

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from rampway.providers.catalog import Catalog
    from rampway.release import Release
    from rampway.router import ProviderSource, RouteLimits

log = logging.getLogger("rampway.shadow")

DEFAULT_MAX_QUEUE = 1_000
DEFAULT_WORKERS = 32
DEFAULT_MAX_LAG_S = 0.01
LAG_PROBE_S = 0.05
STOP_GRACE_S = 2.0


@dataclass(slots=True)
class _Job:
    shadow: ActiveShadow
    kind: str  # candidate | twin
    resolution: Resolution
    primary: CallRecord


class _RateGate:
    """A token bucket: at most `rate` shadow calls per second (burst: one second's worth)."""

    __slots__ = ("_last", "_rate", "_tokens")

    def __init__(self, rate: float, now: float) -> None:
        self._rate = rate
        self._tokens = max(1.0, rate)
        self._last = now

    def take(self, now: float) -> bool:
        self._tokens = min(max(1.0, self._rate), self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ShadowMetrics:
    """rampway_shadow_calls_total{shadow,kind,status}, rampway_shadow_skipped_total{shadow,
    reason=shed|over_budget|expired} on the gateway's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter("rampway_shadow_calls", "Shadow calls made, by outcome",
                             ("shadow", "kind", "status"), registry=registry)
        self.skipped = Counter("rampway_shadow_skipped", "Sampled calls not mirrored, by reason",
                               ("shadow", "reason"), registry=registry)


class ShadowCapture(Hook):
    """The capture hook and its workers. `start()` on the serving loop, `stop()` at shutdown."""

    def __init__(
        self,
        control: SnapshotSource,
        router: Router,
        writer: PairWriter,
        *,
        metrics: ShadowMetrics | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        workers: int = DEFAULT_WORKERS,
        max_lag_s: float = DEFAULT_MAX_LAG_S,
        clock: Any = time.time,
    ) -> None:
        self.control = control
        self.writer = writer
        self.metrics = metrics
        self.pipeline = Pipeline(router, control, hooks=Hooks())
        self._max_queue = max_queue
        self._workers = workers
        self._clock = clock
        self._queue: asyncio.Queue[_Job] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._gates: dict[int, _RateGate] = {}
        self._max_lag = max_lag_s
        self.lag_s = 0.0  # how late the loop woke from the last probe sleep
        self.mirrored = 0

    @classmethod
    def build(
        cls, control: SnapshotSource, providers: ProviderSource, catalog: Catalog,
        writer: PairWriter, *, limits: RouteLimits | None = None,
        registry: CollectorRegistry | None = None, **options: Any,
    ) -> ShadowCapture:
        """With a router of its own over the same providers: one attempt per target, its own
        breakers (see the module docstring)."""
        router = Router(providers, catalog, retry=RetryPolicy(max_attempts=1),
                        limits=None if limits is None else one_attempt(limits))
        metrics = None if registry is None else ShadowMetrics(registry)
        return cls(control, router, writer, metrics=metrics, **options)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers on the running loop (idempotent)."""
        if self._queue is not None:
            return
        self._queue = asyncio.Queue(self._max_queue)
        self._tasks = [asyncio.create_task(self._work(), name=f"rampway-shadow-{i}")
                       for i in range(self._workers)]
        self._tasks.append(asyncio.create_task(self._probe(), name="rampway-shadow-lag"))

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Let queued and running shadow calls finish for up to `grace` seconds, then cancel."""
        queue, self._queue = self._queue, None
        if queue is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.join(), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every shadow call queued so far is done (tests, benches, shutdown)."""
        if self._queue is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    @property
    def queued(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    # -- the hook (on the request path: decide and enqueue, nothing more) --------------------------

    def after_call(self, record: CallRecord) -> None:
        res = record.resolution
        if res is None or self._queue is None:
            return
        shadows = self.control.snapshot.shadows.for_feature(res.feature.name)
        if not shadows or record.error_code == "client_closed" or record.provider == "rampway":
            return
        call = record.call
        unit = call.unit or call.request_id
        context: dict[str, Any] | None = None
        now = self._clock()
        for shadow in shadows:
            if not shadow.sampled(unit):
                continue
            if shadow.predicate is not None:
                if context is None:
                    context = _context(call)
                if not shadow.predicate(context):
                    continue
            self._enqueue(shadow, record, now)

    def _enqueue(self, shadow: ActiveShadow, record: CallRecord, now: float) -> None:
        sr = self._snapshot_releases()
        jobs: list[_Job] = []
        res = record.resolution
        assert res is not None
        for rid in shadow.record.candidates:
            release = sr.get(rid)
            if release is not None:
                jobs.append(_Job(shadow, "candidate", _as(res, release, shadow), record))
        if shadow.twinned(record.call.request_id):
            jobs.append(_Job(shadow, "twin", res, record))
        for job in jobs:
            reason = self._refusal(shadow, now)
            if reason is None:
                assert self._queue is not None
                try:
                    self._queue.put_nowait(job)
                    continue
                except asyncio.QueueFull:
                    reason = "shed"
            self._skip(shadow, reason)

    def _refusal(self, shadow: ActiveShadow, now: float) -> str | None:
        rec = shadow.record
        if rec.ended(now):
            return "expired"
        if self.lag_s > self._max_lag:
            return "shed"
        if self.writer.spent_today(rec.id) >= rec.usd_per_day:
            self.writer.budget_hit(rec.id, now)
            return "over_budget"
        gate = self._gates.get(rec.id)
        if gate is None:
            gate = self._gates[rec.id] = _RateGate(rec.requests_per_s, now)
        return None if gate.take(now) else "over_budget"

    def _skip(self, shadow: ActiveShadow, reason: str) -> None:
        self.writer.count(shadow.record.id, reason)
        if self.metrics is not None:
            self.metrics.skipped.labels(shadow.record.name, reason).inc()

    def _snapshot_releases(self) -> Any:
        return self.control.snapshot.shadow_releases

    # -- workers (off the request path) ------------------------------------------------------------

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_PROBE_S
            await asyncio.sleep(LAG_PROBE_S)
            self.lag_s = max(0.0, loop.time() - due)

    async def _work(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            job = await queue.get()
            try:
                await self.mirror(job)
            except Exception:  # noqa: BLE001 - a shadow failure never reaches anyone
                log.exception("shadow %s: mirroring failed", job.shadow.record.name)
            finally:
                queue.task_done()

    async def mirror(self, job: _Job) -> PairRow:
        """Make one shadow call, store its pair, return it."""
        primary = job.primary
        call = dataclasses.replace(primary.call)
        shadow = CallRecord(call=call, started=time.time(), resolution=job.resolution)
        t0 = time.perf_counter()
        try:
            shadow.request = build_request(job.resolution, call)
            async with asyncio.timeout(job.shadow.record.timeout_s):
                if call.stream:
                    async for _ in self.pipeline.stream_prepared(shadow):
                        pass
                else:
                    await self.pipeline.run_complete(shadow)
        except RampwayError as exc:  # recorded by the pipeline; or a render error before it
            if shadow.error_code is None:
                shadow.status, shadow.error_code = "error", exc.code
        except TimeoutError:
            shadow.status, shadow.error_code = "error", "timeout"
            shadow.latency_s = time.perf_counter() - t0
        row = self._row(job, shadow)
        self.writer.emit(row)
        self.mirrored += 1
        if self.metrics is not None:
            self.metrics.calls.labels(job.shadow.record.name, job.kind, row.status).inc()
        return row

    def _row(self, job: _Job, shadow: CallRecord) -> PairRow:
        primary, rec = job.primary, job.shadow.record
        settings = job.resolution.feature.settings
        keep = rec.keep_text and settings.keep_text
        text = settings.redactor.redact(response_text(shadow)) if keep else None
        return PairRow(
            shadow_id=rec.id, shadow=rec.name, request_id=primary.call.request_id,
            kind=job.kind, unit_hash=hash_unit(primary.call.unit), ts=primary.started,
            release_id=job.resolution.release.id, provider=shadow.provider, model=shadow.model,
            status=shadow.status, error_code=shadow.error_code,
            latency_ms=shadow.latency_s * 1000.0,
            ttft_ms=None if shadow.ttft_s is None else shadow.ttft_s * 1000.0,
            input_tokens=shadow.usage.input_tokens, output_tokens=shadow.usage.output_tokens,
            cost_usd=shadow.cost_usd, finish_reason=shadow.finish_reason,
            refusal=shadow.refusal is not None,
            tool_calls=tool_call_records(shadow, keep, settings),
            output_chars=len(shadow.content or ""), output_text=text,
        )


def one_attempt(limits: RouteLimits) -> RouteLimits:
    """The same time limits with one attempt per target: a shadow call is not worth a retry
    (the budget pays for it) and a retry storm must not reach a struggling provider."""
    return dataclasses.replace(
        limits, default=dataclasses.replace(limits.default, attempts=1),
        targets={k: dataclasses.replace(t, attempts=1) for k, t in limits.targets.items()},
    )


def _as(primary: Resolution, release: Release, shadow: ActiveShadow) -> Resolution:
    """The candidate's resolution: the primary's feature, the candidate release, none of the
    primary's flag overrides (a model override would replace the very model under test)."""
    return Resolution(feature=primary.feature, release=release,
                      arm=f"shadow:{shadow.record.name}", reason="shadow")


def _context(call: Any) -> dict[str, Any]:
    # Imported here: rampway.flags.serving builds on rampway.gateway (see Runtime).
    from rampway.flags.serving import evaluation_context

    return evaluation_context(call)


__all__ = [
    "DEFAULT_MAX_LAG_S",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_WORKERS",
    "ShadowCapture",
    "ShadowMetrics",
    "one_attempt",
]
