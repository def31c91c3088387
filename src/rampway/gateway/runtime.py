"""Everything one serving process holds, built once from a project: store, providers, router,
control watcher, event writer, metrics and the pipeline. The HTTP gateway and the SDK each own
one `Runtime`; nothing here is process-global.

Example:
    rt = Runtime.from_project(load_project(), source="sdk")
    await rt.start()            # loads the control snapshot, starts the watcher and the writer
    record, response = await rt.pipeline.complete(call)
    await rt.stop()             # drains the event queue completely
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from rampway.config import Project
from rampway.events.sink import SqlEventSink
from rampway.events.writer import EventSink, EventWriter
from rampway.gateway.control import ControlWatcher
from rampway.gateway.eventlog import EventLogHook
from rampway.gateway.hooks import Hook, Hooks
from rampway.gateway.metrics import GatewayMetrics, MetricsHook
from rampway.gateway.pipeline import Pipeline
from rampway.gateway.resolve import Resolver
from rampway.gateway.settings import GatewaySettings
from rampway.providers.catalog import Catalog
from rampway.providers.registry import ProviderRegistry, build_providers
from rampway.router import Router
from rampway.store import Store


def provider_config(project: Project, sim_url: str | None = None) -> dict[str, Any]:
    """The project's provider entries; with `sim_url`, every `sim` provider is pointed at it."""
    out: dict[str, Any] = {}
    for name, cfg in project.config.providers.items():
        entry = cfg.model_dump(exclude_none=True)
        options = entry.pop("options", {}) or {}
        entry = {**options, **entry}
        if sim_url is not None and cfg.kind == "sim":
            entry["base_url"] = sim_url
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
    ) -> None:
        self.project = project
        self.store = store
        self.providers = providers
        self.settings = settings
        self._owns_store = owns_store
        self.router = Router(providers, Catalog.load(project.config.catalog))
        self.watcher = ControlWatcher(
            store, project.config, project.config_path, interval=settings.reload_interval
        )
        ev = settings.events
        self.metrics = GatewayMetrics()
        self.writer = EventWriter(
            sink or SqlEventSink(store),
            max_queue=ev.max_queue,
            batch_size=ev.batch_size,
            flush_interval=ev.flush_interval,
            on_drop=self.metrics.events_dropped.inc,
        )
        all_hooks = Hooks(
            [MetricsHook(self.metrics), EventLogHook(self.writer, ev.attributes), *hooks]
        )
        # Flags run first, around whichever resolver picks the release (kill switch, pinning,
        # model and max_tokens overrides apply to every way of resolving). Imported here:
        # rampway.flags.serving builds on rampway.gateway, which imports this module.
        from rampway.flags.serving import FlagResolver

        flagged = FlagResolver(resolver)
        self.pipeline = Pipeline(self.router, self.watcher, resolver=flagged, hooks=all_hooks)
        self._task: asyncio.Task[None] | None = None
        self.started = False

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
    ) -> Runtime:
        """Open the store (migrating it), build providers from config unless given."""
        settings = GatewaySettings.from_config(project.config.gateway)
        if providers is None:
            providers = build_providers(provider_config(project, sim_url))
        elif not isinstance(providers, ProviderRegistry):
            providers = build_providers(providers)
        owns_store = store is None
        store = store or Store.open(project.db_url)
        return cls(
            project=project,
            store=store,
            providers=providers,
            settings=settings,
            resolver=resolver,
            hooks=hooks,
            owns_store=owns_store,
        )

    async def start(self) -> None:
        if self.started:
            return
        await asyncio.to_thread(self.watcher.refresh)
        self.writer.start()
        self._task = asyncio.create_task(self.watcher.run(), name="rampway-control-watcher")
        self.started = True

    async def stop(self) -> None:
        """Stop watching, drain the event queue completely, close upstream connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.writer.close)
        await self.providers.aclose()
        if self._owns_store:
            self.store.close()
        self.started = False

    @property
    def ready(self) -> bool:
        return self.started and self.watcher.snapshot.version >= 0


__all__ = ["Runtime", "provider_config"]
