"""Everything one serving process holds, built once from a project: store, providers, router,
control watcher, event writer, metrics, the pipeline, shadow capture (`self.shadow`), the
rollout webhooks' notifier and (optionally) the rollout controller. The HTTP gateway and the
SDK each own one `Runtime`; nothing here is process-global.

Example:
    rt = Runtime.from_project(load_project(), source="sdk")
    await rt.start()            # loads the control snapshot, starts the watcher and the writer
    record, response = await rt.pipeline.complete(call)
    await rt.stop()             # drains the event queue completely

With `events:` set in rampway.yaml (`rampway.events.clickhouse`), request and feedback events
go to ClickHouse through the same writer; control state stays in the store. The rollout
controller's looks and the dashboard (health, experiment pages) then read that same
`ClickHouseEvents` (`self.events`).

`rollout_interval=60` also runs the rollout controller (`RolloutLoop`) for as long as the
runtime runs: started after the first snapshot, stopped (a look in progress finishes) before
the event queue drains and the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rampway.config import Project
from rampway.events.deadletter import DeadLetterFile
from rampway.events.retention import job_for
from rampway.events.sink import SqlEventSink
from rampway.events.writer import EventSink, EventWriter
from rampway.gateway.control import ControlWatcher
from rampway.gateway.eventlog import EventLogHook
from rampway.gateway.hooks import Hook, Hooks
from rampway.gateway.metrics import GatewayMetrics, MetricsHook, served_releases
from rampway.gateway.pipeline import Pipeline
from rampway.gateway.resolve import Resolver
from rampway.gateway.rollouts import RolloutLoop
from rampway.gateway.settings import GatewaySettings
from rampway.providers.catalog import Catalog
from rampway.providers.registry import ProviderRegistry, build_providers
from rampway.rollout import Notifier
from rampway.rollout.plan import settings_from
from rampway.router import Router
from rampway.store import Store

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents
    from rampway.shadow.capture import ShadowCapture


def provider_config(project: Project, sim_url: str | None = None) -> dict[str, Any]:
    """The project's provider entries; with `sim_url`, every `sim` provider is pointed at it.

    HTTP providers get the connect timeout of `gateway.routing` (the provider's entry there, or
    the default) unless their own options set one: connections are pooled per provider.
    """
    limits = GatewaySettings.from_config(project.config.gateway).routing.route_limits()
    out: dict[str, Any] = {}
    for name, cfg in project.config.providers.items():
        entry = cfg.model_dump(exclude_none=True)
        options = entry.pop("options", {}) or {}
        entry = {**options, **entry}
        if sim_url is not None and cfg.kind == "sim":
            entry["base_url"] = sim_url
        over_http = cfg.kind in ("openai", "anthropic") or entry.get("base_url") is not None
        if over_http and cfg.kind != "local":
            entry.setdefault("connect_timeout", limits.connect_timeout(name))
        out[name] = entry
    return out


class Runtime:
    def __init__(
        self,
        *,
        project: Project,
        store: Store,
        providers: ProviderRegistry,
        settings: GatewaySettings,
        sink: EventSink | None = None,
        resolver: Resolver | None = None,
        hooks: Sequence[Hook] = (),
        owns_store: bool = True,
        rollout_interval: float | None = None,
        events: ClickHouseEvents | None = None,
    ) -> None:
        """`events`: the ClickHouse event log the writer writes to (closed by `stop`)."""
        self.project = project
        self.events = events
        # a sink of the caller's may not keep the judge's roll-up: the looks read the event log
        rolled = sink is None
        if events is not None and sink is None:
            sink = events.sink(store)  # the roll-up in the control store, the events there
        self.store = store
        self.providers = providers
        self.settings = settings
        self._owns_store = owns_store
        self.metrics = GatewayMetrics(
            idle_s=settings.metrics.idle_expiry,
            serving=lambda: served_releases(self.watcher.snapshot),
        )
        unroutable = self.metrics.unroutable
        self.router = Router(
            providers, Catalog.load(project.config.catalog),
            on_unroutable=lambda t: unroutable.labels(t.provider, t.model).inc(),
            limits=settings.routing.route_limits(),
        )
        self.watcher = ControlWatcher(
            store, project.config, project.config_path, interval=settings.reload_interval
        )
        ev = settings.events
        self.writer = EventWriter(
            sink or SqlEventSink(store),
            max_queue=ev.max_queue,
            batch_size=ev.batch_size,
            flush_interval=ev.flush_interval,
            on_drop=self.metrics.event_dropped,
            dead_letter=None if not ev.dead_letter else DeadLetterFile(
                project.root / ev.dead_letter
            ),
        )
        self.shadow = self._shadow_capture(store, providers, project)
        all_hooks = Hooks(
            [MetricsHook(self.metrics), EventLogHook(self.writer, ev.attributes), *hooks,
             self.shadow]
        )
        # Flags run first, around whichever resolver picks the release (kill switch, pinning,
        # model and max_tokens overrides apply to every way of resolving). Imported here:
        # rampway.flags.serving builds on rampway.gateway, which imports this module.
        from rampway.flags.serving import FlagResolver

        flagged = FlagResolver(resolver)
        self.pipeline = Pipeline(self.router, self.watcher, resolver=flagged, hooks=all_hooks)
        rollouts = settings_from(project.config.rollouts, str(project.config_path))
        self.notifier = Notifier(rollouts.webhooks)  # its thread starts on the first notice
        self.rollouts = self._rollout_loop(rollout_interval, rollup=rolled)
        self._task: asyncio.Task[None] | None = None
        self.started = False

    def _shadow_capture(self, store: Store, providers: ProviderRegistry,
                        project: Project) -> ShadowCapture:
        """Shadow traffic's hook (last: it mirrors after the primary is fully recorded), with
        its own router and pair writer. Imported here: rampway.shadow.capture builds on
        rampway.gateway, which imports this module."""
        from rampway.shadow.capture import ShadowCapture
        from rampway.shadow.pairs import PairWriter

        options = self.settings.shadow
        return ShadowCapture.build(
            self.watcher, providers, Catalog.load(project.config.catalog),
            PairWriter(store, flush_interval=options.flush_interval),
            limits=self.settings.routing.route_limits(), registry=self.metrics.registry,
            max_queue=options.max_queue, workers=options.workers, max_lag_s=options.max_lag,
        )

    def _rollout_loop(self, interval: float | None, *, rollup: bool) -> RolloutLoop | None:
        if interval is None:
            return None
        # Imported here: the judge brings numpy/scipy, which a gateway without it never needs.
        from rampway.rollout.controller import Controller

        retention = job_for(self.store, self.settings.events.retention)
        # with `events:` the looks read the ClickHouse store this gateway writes to
        return RolloutLoop(Controller(self.store, notifier=self.notifier, interval=interval,
                                      retention=retention, rollup=rollup,
                                      project=self.live_project, events=self.events))

    def live_project(self) -> Project:
        """The project with rampway.yaml as the watcher last reloaded it: what the admin API,
        the dashboard and the rollout controller validate against, so a write they accept is
        one this gateway (and `/readyz`) agrees it can serve. The root never changes."""
        return self.watcher.project(self.project.root)

    @classmethod
    def from_project(
        cls,
        project: Project,
        *,
        store: Store | None = None,
        providers: ProviderRegistry | Mapping[str, Any] | None = None,
        sim_url: str | None = None,
        resolver: Resolver | None = None,
        hooks: Sequence[Hook] = (),
        rollout_interval: float | None = None,
    ) -> Runtime:
        """Open the store (migrating it), build providers from config unless given."""
        settings = GatewaySettings.from_config(project.config.gateway)
        if providers is None:
            providers = build_providers(provider_config(project, sim_url))
        elif not isinstance(providers, ProviderRegistry):
            providers = build_providers(providers)
        from rampway.events.clickhouse import open_events

        owns_store = store is None
        store = store or Store.open(project.db_url)
        events = None
        try:
            events = open_events(project)  # None: the events go to the store
            return cls(
                project=project,
                store=store,
                providers=providers,
                settings=settings,
                resolver=resolver,
                hooks=hooks,
                owns_store=owns_store,
                rollout_interval=rollout_interval,
                events=events,
            )
        except BaseException:
            if events is not None:
                events.close()
            if owns_store:
                store.close()
            raise

    async def start(self) -> None:
        if self.started:
            return
        await asyncio.to_thread(self.watcher.refresh)
        self.writer.start()
        self.shadow.writer.start()
        self.shadow.start()
        self._task = asyncio.create_task(self.watcher.run(), name="rampway-control-watcher")
        if self.rollouts is not None:
            self.rollouts.start()
        self.started = True

    async def stop(self) -> None:
        """Stop the controller and watching, drain the event queue completely, deliver queued
        webhooks (bounded), close upstream connections."""
        if self.rollouts is not None:
            await asyncio.to_thread(self.rollouts.stop)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.notifier.close)
        await self.shadow.stop()
        await asyncio.to_thread(self.shadow.writer.close)
        await asyncio.to_thread(self.writer.close)
        if self.events is not None:
            self.events.close()
        await self.providers.aclose()
        if self._owns_store:
            self.store.close()
        self.started = False

    @property
    def ready(self) -> bool:
        return self.started and self.watcher.snapshot.version >= 0


__all__ = ["Runtime", "provider_config"]
