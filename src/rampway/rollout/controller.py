"""The rollout controller: look at every active rollout, judge it, apply what the state machine
says — and the same path for humans' commands and for starting a rollout.

    controller = Controller(store, clock=time.time, notifier=Notifier(hooks))
    controller.start("support-bot", "support-bot@9f1c", plan=plan, actor="ana")
    controller.tick()                     # one look at every active rollout
    await controller.run()                # forever, every `interval` seconds

A start needs a routable candidate (with `project_root`: its provider configured, its model in
the catalog) and a recorded PASS gate of the candidate against the release the baseline channel
serves (`rampway gate …`; see `gating`), or `skip_gate=True` with a reason, which is audited.
Given `project_root`, the pass must also be under the policy and suite that project has now.

The clock is injectable (epoch seconds), so tests compress hours into milliseconds. Deciding
is pure (`judge`, `state`); this module does the reading (the step's roll-up, two rows kept up
to date by the event sinks in the main database — also when the events go to ClickHouse,
`events:` in rampway.yaml —, `rollup`; or, when the roll-up does not cover the window,
per-unit sums computed by the database, `totals`, or on ClickHouse,
`rampway.events.clickhouse.totals`; `looks` counts which), the writing (`repo`,
compare-and-swap; a step's roll-up segment is opened in its transition's transaction,
`segments`) and the announcing (`notify`, after commit, never blocking). Several controllers
may run against one database: each transition is written by exactly one of them, and only
that one announces it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampway._reason import require_reason
from rampway.assign import BUCKETS
from rampway.config import project_source
from rampway.errors import (
    ConfigError,
    ConflictError,
    RampwayError,
    RefError,
    StateConflict,
)
from rampway.experiments import repo as experiments
from rampway.gate.current import current_basis
from rampway.gate.records import latest_gate
from rampway.rollout import batches, repo, segments, state
from rampway.rollout._judge import (
    SRM_SETTLE_SECONDS,
    Evaluation,
    Verdict,
    aggregate,
    judge_srm,
    judge_totals,
)
from rampway.rollout.gating import GateNeed, require_gate
from rampway.rollout.lease import FleetLease
from rampway.rollout.notify import Notice, Notifier
from rampway.rollout.plan import Plan
from rampway.rollout.repo import RolloutRecord, utc
from rampway.rollout.state import Status, Transition
from rampway.rollout.totals import LookTotals, load_totals
from rampway.store import Store
from rampway.store.schema import channels

if TYPE_CHECKING:
    from rampway.config import Project, ProjectSource
    from rampway.events.clickhouse.store import ClickHouseEvents
    from rampway.events.retention import RetentionJob

log = logging.getLogger("rampway.rollout")

Clock = Callable[[], float]
CONTROLLER_ACTOR = "rampway-controller"
#: How far into a step its roll-up's first seconds are merged in (`rollup.merge_guard`): well
#: past `rollup.GUARD_SECONDS`, so no writer still holds a batch that missed the segment.
MERGE_GUARD_AFTER_S = 30.0
#: Seconds a look spends at most on deleting finished steps' roll-up rows.
PRUNE_BUDGET_S = 5.0


@dataclass(frozen=True, slots=True)
class StartCheck:
    """What `check_start` found acceptable: the release ids and the gate snapshot to keep."""

    candidate: str
    baseline: str
    gate: dict[str, Any]


class Controller:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = time.time,
        notifier: Notifier | None = None,
        actor: str = CONTROLLER_ACTOR,
        interval: float = 60.0,
        project_root: Path | None = None,  # the repo whose gate policy and suite a pass must match
        project: Project | ProjectSource | None = None,  # routability: else rampway.yaml at root
        retention: RetentionJob | None = None,  # event retention, applied by the lease holder
        rollup: bool = True,  # the fleet's events go through `SqlEventSink` (which rolls up)
        events: ClickHouseEvents | None = None,  # the event log, when not the main database
    ) -> None:
        if interval <= 0:
            raise ConfigError("controller interval must be positive")
        self.store = store
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.actor = actor
        self.interval = interval
        self.project_root = project_root
        # what routability is checked against (a promotion, the final step): the caller's
        # view of the project when given (a gateway's: rampway.yaml as last reloaded), else
        # rampway.yaml under `project_root` read at each check, else nothing is checked
        self._project = None if project is None else project_source(project)
        self.lost_races = 0  # transitions another process wrote first (CAS lost)
        self.lease = FleetLease(store.engine)  # one controller looks for the whole fleet
        self.retention = retention
        self.rollup = rollup
        # Where the looks read the events: `events` (the caller's, e.g. the gateway's own
        # ClickHouse store), else the project's `events:` opened at the first look
        # (`_events`), else the main database.
        self._events = events
        self._opened: ClickHouseEvents | None = None
        self._opening = threading.Lock()  # request threads may look at once: open one handle
        #: looks by where their totals came from: "rollup" (`rampway.rollout.rollup`, two rows),
        #: "events" (`rampway.rollout.totals`, the window's requests) or "clickhouse"
        #: (`rampway.events.clickhouse.totals`, the window's requests there)
        self.looks: Counter[str] = Counter()
        self._merged: set[tuple[str, float]] = set()  # segments whose guard is merged

    def now(self) -> datetime:
        return utc(self.clock())

    # -- starting -------------------------------------------------------------------------

    def check_start(
        self,
        feature: str,
        candidate: str,
        plan: Plan,
        *,
        published: bool = True,
        skip_gate: bool = False,
        reason: str = "",
        candidate_ref: str = "",
    ) -> StartCheck:
        """Everything `start` refuses, checked without writing.

        `published=False` takes `candidate` as the full id of a release about to be published
        (the CLI checks before it publishes, so bad input leaves no trace at all);
        `candidate_ref` is how the user named it, for the `rampway gate …` hint when the id
        is not in the store yet. The gate is checked last: it is the refusal worth acting on
        only once nothing else is in the way.
        """
        channel = self.store.get_channel(feature, plan.baseline)
        if channel is None:
            raise RefError(
                f"feature {feature!r} has no '{plan.baseline}' channel to roll out from; "
                f"set it first (rampway channel set {feature} {plan.baseline} REF)"
            )
        record = self.store.get_release(feature, candidate) if published else None
        candidate_id = candidate if record is None else record.release_id
        if record is not None:
            self._check_routable(record.canonical)
        if candidate_id == channel.release_id:
            raise ConfigError(
                f"candidate {candidate_id} is what '{plan.baseline}' already serves; "
                "nothing to roll out"
            )
        repo.check_no_overlap(self.store, feature)
        experiments.check_no_experiment(self.store, feature)  # one traffic split at a time
        if plan.requires is not None:
            from rampway.shadow.gating import check_shadow_requirement

            check_shadow_requirement(self.store, feature, candidate_id, plan.requires.shadow,
                                     plan.requires.min_pairs)
        current = (None if skip_gate or self.project_root is None
                   else current_basis(self.project_root, feature))
        need = GateNeed(feature, candidate_id, channel.release_id, plan.baseline,
                        "" if published else self._gate_ref(feature, candidate_id, candidate_ref),
                        current)
        latest = latest_gate(self.store, feature, candidate_id, channel.release_id)
        gate = require_gate(latest, need=need, skip_reason=reason if skip_gate else None)
        return StartCheck(candidate_id, channel.release_id, gate)

    def _check_routable(self, canonical: str) -> None:
        """With a project, a published candidate must be routable now (UnroutableRelease, 422):
        it may have been published before its model or provider left rampway.yaml. One check
        for every road that starts a rollout — CLI, admin API, `--server` by channel or id;
        an unpublished candidate was checked by whoever loaded it (`routable_release`)."""
        project = self.project()
        if project is None:
            return
        from rampway.release import Release, check_release

        check_release(project, Release.from_canonical(canonical))

    def project(self) -> Project | None:
        """The project routability is checked against now (see `__init__`), if any."""
        if self._project is not None:
            return self._project()
        if self.project_root is None:
            return None
        from rampway.config import load_project

        return load_project(self.project_root)

    def _gate_ref(self, feature: str, candidate_id: str, candidate_ref: str) -> str:
        """The id when `rampway gate` can find it in the store, else the user's own ref."""
        try:
            self.store.get_release(feature, candidate_id)
        except RefError:
            return candidate_ref
        return ""

    def start(
        self,
        feature: str,
        candidate: str,
        *,
        plan: Plan,
        actor: str,
        reason: str = "",
        skip_gate: bool = False,
    ) -> RolloutRecord:
        """Create the rollout and enter its first step. Nothing is written on bad input.

        Refused unless `candidate` has a recorded PASS gate against the release the plan's
        baseline channel serves; `skip_gate=True` overrides that, with `reason` (required)
        kept on the rollout and in the audit log.
        """
        checked = self.check_start(feature, candidate, plan, skip_gate=skip_gate, reason=reason)
        created = repo.create(
            self.store, feature=feature, candidate=checked.candidate, baseline=checked.baseline,
            baseline_channel=plan.baseline, plan=plan, actor=actor, now=self.now(),
            reason=reason.strip() or f"roll out {checked.candidate}", gate=checked.gate,
        )
        self._apply(created, state.start(plan, created.position), actor)
        return repo.get(self.store, created.id)

    # -- looking ---------------------------------------------------------------------------

    def evaluate(self, rollout: RolloutRecord, now: datetime | None = None) -> Evaluation | None:
        """Judge the current step's window; None when there is no window (nothing served)."""
        if rollout.step_started_at is None or rollout.weight_bp == 0:
            return None
        plan = rollout.plan
        now = now or self.now()
        look = self._look_totals(rollout, rollout.step_started_at.timestamp(), now.timestamp())
        alpha = plan.guardrail_alpha()
        results = [judge_totals(base, cand, g, alpha=alpha, quantiles=quantiles)
                   for g, (base, cand), quantiles in zip(plan.guardrails, look.totals,
                                                         look.quantiles, strict=True)]
        # The SRM test's own threshold applies at the look that would advance the step
        # (see `_judge.judge_srm`: one decisive test per step, not one per minute).
        decisive = (state.dwell_elapsed(plan, rollout.position, now)
                    and all(r.verdict is Verdict.PASS for r in results))
        srm = judge_srm(look.units["baseline"], look.units["candidate"],
                        rollout.weight_bp, plan.srm, decisive=decisive)
        return aggregate(results, srm)

    def _look_totals(self, rollout: RolloutRecord, since: float, until: float) -> LookTotals:
        """The step's per-unit totals: from the roll-up when it covers the window (a segment
        opened with the step, see `_segment`), else computed from the event log. The same
        numbers either way (tests/rollout/test_rollout_rollup.py)."""
        feature, plan = rollout.feature, rollout.plan
        releases = {"baseline": rollout.baseline, "candidate": rollout.candidate}
        events = self.events()
        if self.rollup:
            rolled = self._rolled_look(rollout, since, until, events)
            if rolled is not None:
                self.looks["rollup"] += 1
                return rolled
        if events is not None:
            self.looks["clickhouse"] += 1
            return events.load_look(feature=feature, releases=releases,
                                    guardrails=plan.guardrails, since=since, until=until,
                                    settle=SRM_SETTLE_SECONDS, unit=plan.unit)
        self.looks["events"] += 1
        return load_totals(self.store, feature=feature, releases=releases,
                           guardrails=plan.guardrails, since=since, until=until,
                           settle=SRM_SETTLE_SECONDS, unit=plan.unit)

    def _rolled_look(self, rollout: RolloutRecord, since: float, until: float,
                     events: ClickHouseEvents | None) -> LookTotals | None:
        """The look from the step's roll-up (in the main database, also when the events are
        in ClickHouse: its sink keeps the roll-up here), None when it does not cover the
        window. Merges the segment's first seconds in once the step is old enough."""
        from rampway.rollout.rollup import load_look, merge_guard

        feature = rollout.feature
        log_ = None if events is None else events.guard()
        if ((feature, since) not in self._merged and until - since >= MERGE_GUARD_AFTER_S
                and not self._batch_lost(feature, since, log_)):
            merge_guard(self.store, feature, since, log_)  # False too when merged already
            # with events elsewhere a merge waits for pending batches: try again next look
            if log_ is None or self._merged_already(feature, since):
                self._merged.add((feature, since))
        return load_look(self.store, feature=feature,
                         releases={"baseline": rollout.baseline, "candidate": rollout.candidate},
                         guardrails=rollout.plan.guardrails, since=since, until=until,
                         unit=rollout.plan.unit, events=log_)

    def _batch_lost(self, feature: str, since: float, log_: object) -> bool:
        """With events elsewhere, whether a batch of the step will never be rolled up (a stale
        reservation, a gap): its merge would wait for it forever, holding the main database's
        write transaction around a ClickHouse read on every look; the looks read ClickHouse."""
        if log_ is None:
            return False
        from rampway.rollout import batches

        with self.store.reading() as conn:
            return batches.stale(conn, feature, since, time.time())

    def _merged_already(self, feature: str, since: float) -> bool:
        with self.store.reading() as conn:
            segment = segments.get(conn, feature, since)
        return segment is None or segment.merged

    def events(self) -> ClickHouseEvents | None:
        """The ClickHouse event log the looks read, if the events go there: the one given, else
        the project's `events:` (or $RAMPWAY_EVENTS), opened once on first use and closed by
        `close` — the CLI's and `rampway controller`'s case. None: the main database."""
        if self._events is not None:
            return self._events
        if self._opened is None and self._events_url():
            from rampway.events.clickhouse import open_events

            with self._opening:
                if self._opened is None:
                    project = self.project()
                    self._opened = None if project is None else open_events(project)
        return self._opened

    def _events_url(self) -> bool:
        """Whether the events go to ClickHouse (given, or the project's `events:`), without
        opening it: `rollout start` from the CLI must not need the engine a gateway holds."""
        if self._events is not None:
            return True
        project = self.project()
        if project is None:
            return False
        from rampway.events.clickhouse._url import resolve_events_url

        return resolve_events_url(project.root, project.config.events.url) is not None

    def close(self) -> None:
        """Close the event log this controller opened itself (not one it was given)."""
        with self._opening:
            if self._opened is not None:
                self._opened.close()
                self._opened = None

    def look(self) -> list[RolloutRecord] | None:
        """`tick` (then the event retention, when due) if this controller holds the fleet's
        lease (`rampway.rollout.lease`); None when another controller does the looking. What
        the loops call."""
        if not self.lease.hold():
            return None
        moved = self.tick()
        self._apply_retention()
        self._prune_rollup()
        return moved

    def _apply_retention(self) -> None:
        """Prune old events (at most hourly, see `RetentionJob`) — here, so that exactly one
        process of the fleet does it, whether gateways or `rampway controller` hold the lease.
        A failure is logged and retried at the next due time; the looks go on."""
        if self.retention is None:
            return
        try:
            self.retention.maybe_run()
        except RampwayError as exc:
            log.warning("event retention failed, retrying in %gs: %s", self.retention.every, exc)

    def _prune_rollup(self) -> None:
        """Drop finished steps' roll-up rows, a few seconds' worth per look (nothing to do
        is one query on the small `rollup_arms`). Logged and retried at the next look."""
        try:
            segments.prune_finished(self.store, deadline=time.monotonic() + PRUNE_BUDGET_S)
            with self.store.transaction() as conn:  # the batch ledger of ClickHouse sinks
                batches.prune(conn, time.time())
        except RampwayError as exc:
            log.warning("pruning finished roll-up rows failed, retrying: %s", exc)

    def tick(self) -> list[RolloutRecord]:
        """One look at every active rollout; returns the rollouts this process moved."""
        moved = []
        for rollout in repo.list_active(self.store):
            try:
                done = self.step(rollout)
            except RampwayError as exc:
                log.warning("rollout %s: look failed, will retry: %s", rollout.ref, exc)
                continue
            if done is not None:
                moved.append(done)
        return moved

    def step(self, rollout: RolloutRecord) -> RolloutRecord | None:
        """Look at one rollout and apply the transition it calls for, if any."""
        now = self.now()
        if rollout.status is Status.PENDING:
            return self._apply(rollout, state.start(rollout.plan, rollout.position), self.actor)
        moved = self._channel_moved(rollout)
        if moved is not None:
            return self._apply(rollout, moved, self.actor)
        evaluation = self.evaluate(rollout, now)
        if evaluation is None:
            return None
        transition = state.on_evaluation(rollout.plan, rollout.position, evaluation, now)
        evidence = evaluation.as_dict()
        if transition is None:
            repo.save_evaluation(self.store, rollout, evidence, now)
            return None
        return self._apply(rollout, self._routable_or_pause(rollout, transition), self.actor,
                           evidence)

    def _routable_or_pause(self, rollout: RolloutRecord, transition: Transition) -> Transition:
        """The final step moves the baseline channel to the candidate, so it is checked like
        every other channel move: a candidate that cannot be routed now (its provider or
        catalog entry left rampway.yaml since the start) is not promoted — the rollout pauses
        at its current weight with the reason, for a human to fix the config and resume (or
        roll back). A human's `promote`/`approve` is refused outright instead (`command`)."""
        if transition.kind != "complete":
            return transition
        try:
            self._check_routable(
                self.store.get_release(rollout.feature, rollout.candidate).canonical)
        except ConfigError as exc:  # UnroutableRelease, or a rampway.yaml that does not read
            log.warning("rollout %s: not promoting: %s", rollout.ref, exc.message)
            return Transition("pause", Status.PAUSED, rollout.step, rollout.weight_bp,
                              f"not promoted: candidate {rollout.candidate} cannot be served "
                              f"now: {exc.message}")
        return transition

    def _channel_moved(self, rollout: RolloutRecord) -> Transition | None:
        """Someone moved the baseline channel by hand during the rollout: follow or stop."""
        channel = self.store.get_channel(rollout.feature, rollout.baseline_channel)
        current = None if channel is None else channel.release_id
        if current == rollout.baseline:
            return None
        if current == rollout.candidate:
            return Transition("complete", Status.COMPLETED, len(rollout.plan.steps) - 1, BUCKETS,
                              f"'{rollout.baseline_channel}' was moved to the candidate by hand")
        if rollout.status is Status.RUNNING:
            return Transition("pause", Status.PAUSED, rollout.step, rollout.weight_bp,
                              f"'{rollout.baseline_channel}' moved to {current} during the "
                              "rollout; the comparison baseline is gone")
        return None

    # -- commands --------------------------------------------------------------------------

    def command(
        self, feature: str, name: str, *, actor: str, reason: str,
        expected_version: int | None = None,
    ) -> RolloutRecord:
        """pause / resume / approve / promote / abort / rollback the feature's active rollout.

        Refusals: RefError when the feature never had a rollout; StateConflict (409) when
        the command does not fit the state (its latest rollout already finished, resume
        while running, …). `expected_version` (the rollout version the caller last saw, e.g.
        an admin API If-Match) refuses with ConflictError when the rollout moved since; the
        transition is a compare-and-swap on that same version, so there is no window between.
        """
        state.check_command(name)
        require_reason(reason, f"rollout {name}")
        rollout = repo.active(self.store, feature)
        if rollout is None:
            raise self._no_active(feature, name, expected_version)
        if expected_version is not None and expected_version != rollout.version:
            raise ConflictError(
                f"rollout {rollout.ref} is at version {rollout.version}, not "
                f"{expected_version}: it changed since you read it"
            )
        transition = state.command(rollout.plan, rollout.position, name, reason)
        if transition.kind == "complete":  # a human's promote moves the channel, like `set`
            self._check_routable(self.store.get_release(feature, rollout.candidate).canonical)
        done = self._apply(rollout, transition, actor)
        if done is None:
            raise ConflictError(
                f"rollout {rollout.ref} changed while you acted; check its status and retry"
            )
        return done

    def _no_active(self, feature: str, name: str, expected_version: int | None) -> RampwayError:
        """Why there is nothing to command: no rollout ever, or the latest one finished."""
        latest = repo.latest(self.store, feature)
        if latest is None:
            return RefError(f"feature {feature!r} has no rollouts")
        if expected_version is not None and expected_version != latest.version:
            return ConflictError(f"feature {feature!r} has no active rollout any more: "
                                 "it changed since you read it")
        return StateConflict(f"feature {feature!r} has no active rollout: its latest, "
                             f"#{latest.id}, is already {latest.status.value}; nothing to {name}")

    # -- writing ---------------------------------------------------------------------------

    def _apply(
        self,
        rollout: RolloutRecord,
        transition: Transition,
        actor: str,
        evidence: dict[str, Any] | None = None,
    ) -> RolloutRecord | None:
        now = self.now()
        promote = self._promote(rollout, actor, transition.reason) \
            if transition.kind == "complete" else None

        def inside(conn: Connection) -> None:
            if promote is not None:
                promote(conn)
            self._segment(conn, rollout, transition, now)

        done = repo.apply(self.store, rollout, transition, actor=actor, now=now,
                          evidence=evidence, inside=inside)
        if done is None:
            self.lost_races += 1
            log.info("rollout %s: another process applied a transition first", rollout.ref)
            return None
        log.info("rollout %s: %s → %s at %g%% (%s)", rollout.ref, transition.kind,
                 done.status.value, done.weight_bp / 100, transition.reason)
        self._announce(done, transition, actor, evidence)
        return done

    def _segment(self, conn: Connection, rollout: RolloutRecord, transition: Transition,
                 now: datetime) -> None:
        """In the transition's transaction: a new step's window gets the feature's only roll-up
        segment (the event sinks roll its requests up from then on); a finished rollout none."""
        if transition.terminal:
            segments.replace(conn, rollout.feature, None)
        elif transition.new_step:
            # also when the events go to ClickHouse: its sink keeps the roll-up here too
            rolled = self.rollup and transition.weight_bp > 0
            segments.replace(conn, rollout.feature, now.timestamp() if rolled else None,
                             rollout.plan.unit)

    def _promote(
        self, rollout: RolloutRecord, actor: str, reason: str
    ) -> Callable[[Connection], None]:
        """Move the baseline channel to the candidate, in the completing transaction."""

        def move(conn: Connection) -> None:
            current = conn.scalar(
                sa.select(channels.c.release_id).where(
                    channels.c.feature == rollout.feature,
                    channels.c.name == rollout.baseline_channel,
                )
            )
            if current == rollout.candidate:
                return
            self.store.set_channel(
                rollout.feature, rollout.baseline_channel, rollout.candidate, actor=actor,
                reason=f"rollout {rollout.ref} completed: {reason}", conn=conn,
            )

        return move

    def _announce(self, done: RolloutRecord, transition: Transition, actor: str,
                  evidence: dict[str, Any] | None) -> None:
        notice = Notice(
            event=transition.kind, feature=done.feature, rollout_id=done.id,
            status=done.status.value, step=max(done.step, 0), steps=len(done.plan.steps),
            weight_pct=done.weight_bp / 100, candidate=done.candidate, baseline=done.baseline,
            reason=transition.reason, actor=actor, at=done.updated_at.isoformat(),
            evidence=evidence,
        )
        self.notifier.send(notice, done.plan.webhooks)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Look every `interval` seconds (while holding the fleet's lease) until cancelled.
        Errors are logged, never fatal; the lease is given up on the way out."""
        try:
            while True:
                try:
                    await asyncio.to_thread(self.look)
                except RampwayError as exc:
                    log.warning("controller tick failed: %s", exc)
                await asyncio.sleep(self.interval)
        finally:
            self.lease.release()


__all__ = ["CONTROLLER_ACTOR", "Clock", "Controller", "StartCheck"]
