"""The control snapshot every serving process caches, and the watcher that keeps it fresh.

Control state (channels, releases, app keys, flags, rollouts, experiments, shadows) lives in
the store; each gateway or SDK process holds an immutable `ControlSnapshot` and swaps it whole
when the store's control version moves (every channel move, rollout step, experiment or shadow
start/stop bumps it) or `rampway.yaml` changes. The watcher polls the version every
`interval` seconds (default 0.25), so a `rampway rollback` reaches every process within ~0.5 s:
one poll plus the reload. The request path only reads `watcher.snapshot` — no I/O, no lock.

Example:
    watcher = ControlWatcher(store, project)
    watcher.refresh()                   # first load, synchronous
    task = asyncio.create_task(watcher.run())
    watcher.snapshot.features["support-bot"].channels["production"].id
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rampway.config import FeatureConfig, Project, ProjectConfig, parse_config
from rampway.errors import ConfigError, RampwayError
from rampway.events.model import Redactor
from rampway.experiments.allocations import ActiveExperiments
from rampway.flags import FlagSet
from rampway.flags.native import release_refs
from rampway.flags.store import FlagStore
from rampway.gateway.keys import KeyRing, load_keyring
from rampway.gateway.unroutable import Unroutable, unroutable
from rampway.release import Release, Routing
from rampway.rollout.allocations import ActiveAllocations
from rampway.shadow.active import ActiveShadows

if TYPE_CHECKING:
    from rampway.store import Store

log = logging.getLogger("rampway.gateway")

Mode = Literal["managed", "passthrough"]


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """Per-feature serving settings from rampway.yaml (`features.<name>`)."""

    mode: Mode | None = None  # None: the release decides
    require_unit: frozenset[str] = frozenset()  # "user", "session": what every request names
    keep_text: bool = True
    redactor: Redactor = field(default_factory=lambda: Redactor(()))

    @classmethod
    def from_config(cls, cfg: FeatureConfig | None) -> FeatureSettings:
        if cfg is None:
            return cls()
        return cls(
            mode=cfg.mode,
            require_unit=_required_units(cfg.require_unit),
            keep_text=cfg.retention.prompts,
            redactor=Redactor(cfg.retention.redact),
        )


@dataclass(frozen=True, slots=True)
class FeatureEntry:
    name: str
    settings: FeatureSettings
    channels: Mapping[str, Release]  # channel name -> release it points to

    def mode_for(self, release: Release) -> Mode:
        return self.settings.mode or release.spec.mode


def _required_units(value: bool | str) -> frozenset[str]:
    if value is False:
        return frozenset()
    if value is True:
        return frozenset({"user"})
    return frozenset({"user", "session"}) if value == "both" else frozenset({value})


def _no_flags() -> FlagSet:
    return FlagSet({}, {})


@dataclass(frozen=True, slots=True)
class ControlSnapshot:
    """`flags`: every stored flag, compiled; `pinned`: releases that `<feature>.release` flags
    can select by id (loaded here so the request path never reads the store)."""

    version: int
    features: Mapping[str, FeatureEntry]
    keys: KeyRing
    loaded_at: float = 0.0
    flags: FlagSet = field(default_factory=_no_flags)
    pinned: Mapping[str, Release] = field(default_factory=dict)
    rollouts: ActiveAllocations = field(default_factory=ActiveAllocations.empty)
    rollout_releases: Mapping[str, Release] = field(default_factory=dict)  # candidates by id
    experiments: ActiveExperiments = field(default_factory=ActiveExperiments.empty)
    experiment_releases: Mapping[str, Release] = field(default_factory=dict)  # arms' by id
    shadows: ActiveShadows = field(default_factory=ActiveShadows.empty)
    shadow_releases: Mapping[str, Release] = field(default_factory=dict)  # candidates by id

    @classmethod
    def empty(cls) -> ControlSnapshot:
        return cls(version=-1, features={}, keys=KeyRing.empty())


class SnapshotLoader:
    """Builds snapshots from the store; parses each release once (cached by release id)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._releases: dict[str, Release] = {}
        self._flags = FlagStore(store)

    def load(self, config: ProjectConfig, version: int) -> ControlSnapshot:
        """A few queries whatever the number of features: features, all channels, keys, flags;
        plus one per release not seen before."""
        by_feature: dict[str, dict[str, Release]] = {n: {} for n in self._store.list_features()}
        for ch in self._store.list_channels():
            by_feature.setdefault(ch.feature, {})[ch.channel] = self._release(
                ch.feature, ch.release_id
            )
        features = {
            name: FeatureEntry(
                name=name,
                settings=FeatureSettings.from_config(config.features.get(name)),
                channels=channels,
            )
            for name, channels in by_feature.items()
        }
        keys = load_keyring(self._store, config.gateway)
        flags = self._flags.flagset()
        pinned = {
            rid: self._release(feature, rid)
            for feature, ids in release_refs(flags.flags).items()
            for rid in ids
        }
        rollouts = ActiveAllocations.load(self._store)
        candidates = {
            rid: self._release(feature, rid)
            for feature, rid in rollouts.candidate_releases().items()
        }
        experiments = ActiveExperiments.load(self._store)
        arms = {
            rid: self._release(feature, rid)
            for feature, ids in experiments.release_ids().items()
            for rid in ids
        }
        shadows = ActiveShadows.load(self._store)
        mirrored = {
            rid: self._release(feature, rid)
            for feature, ids in shadows.release_ids().items()
            for rid in ids
        }
        return ControlSnapshot(
            version, features, keys, time.time(), flags, pinned, rollouts, candidates,
            experiments, arms, shadows, mirrored,
        )

    def _release(self, feature: str, release_id: str) -> Release:
        release = self._releases.get(release_id)
        if release is None:
            record = self._store.get_release(feature, release_id)
            release = Release.from_canonical(record.canonical)
            self._releases[release_id] = release
        return release


# Sections of rampway.yaml a serving process reads once, at start (providers and the catalog
# build the router, `gateway:` its settings): an edit to them is reported, not half-applied.
RESTART_SECTIONS = ("database", "providers", "catalog", "gateway", "sim")


class ControlWatcher:
    """Holds the current snapshot; `run()` polls the store and rampway.yaml and reloads.
    Features, channels and flags apply at once; an edit to a section in RESTART_SECTIONS is
    named in `restart_needed` (and /readyz, and a warning in the log) until a restart.

    After every reload, `unroutable` lists what the snapshot references (channels, pins,
    `.model` flags, rollouts, experiments, shadows) that rampway.yaml as it is now cannot
    route (`rampway.gateway.unroutable`): /readyz reports it, and the log warns when it
    changes. `project(root)` is the project with that same rampway.yaml — what the admin API
    and the dashboard validate writes against, so validation and serving agree."""

    def __init__(
        self,
        store: Store,
        config: ProjectConfig,
        config_path: Path | None = None,
        *,
        interval: float = 0.25,
    ) -> None:
        self._loader = SnapshotLoader(store)
        self._store = store
        self._config = config
        self._config_path = config_path
        self._config_mtime = _mtime(config_path)
        self._started = _restart_sections(config)
        self.restart_needed: tuple[str, ...] = ()
        self.unroutable: tuple[Unroutable, ...] = ()
        self.interval = interval
        self.snapshot = ControlSnapshot.empty()
        self.reloads = 0
        self._routing: tuple[ProjectConfig, Routing | ConfigError] | None = None
        self._project: Project | None = None

    @property
    def config(self) -> ProjectConfig:
        return self._config

    def project(self, root: Path) -> Project:
        """The project at `root` with rampway.yaml as last reloaded (rebuilt on a reload)."""
        held = self._project
        if held is None or held.config is not self._config or held.root != root:
            held = self._project = Project(root, self._config)
        return held

    def refresh(self) -> bool:
        """Reload when the control version or the config file changed. Blocking (store I/O)."""
        return self.apply(self._store.control_version())

    def apply(self, version: int) -> bool:
        """Reload if `version` or rampway.yaml differ from the current snapshot's."""
        config_changed = self._reload_config()
        if version == self.snapshot.version and not config_changed:
            return False
        self.snapshot = self._loader.load(self._config, version)
        self._check_routable()
        self.reloads += 1
        return True

    def _check_routable(self) -> None:
        """`unroutable` for the new snapshot under the current config; a warning on change."""
        if self._routing is None or self._routing[0] is not self._config:
            try:
                built: Routing | ConfigError = Routing.from_config(self._config)
            except ConfigError as exc:  # `catalog:` itself is broken: nothing can be judged
                built = exc
            self._routing = (self._config, built)
        routing = self._routing[1]
        found = (tuple(unroutable(self.snapshot, routing)) if isinstance(routing, Routing)
                 else (Unroutable("rampway.yaml catalog", None, routing.message),))
        if found != self.unroutable and found:
            where = f"{self._config_path or 'rampway.yaml'}"
            log.warning("%s as it is now cannot route %d reference(s) this gateway serves "
                        "(see /readyz): %s", where, len(found),
                        "; ".join(f"{u.what}: {u.problem}" for u in found[:3]))
        self.unroutable = found

    async def run(self) -> None:
        """Poll forever (cancel the task to stop). Store errors are logged, never fatal.

        The poll (one single-row read) runs in a worker thread, so a slow database never stalls
        requests. The reload itself (a few milliseconds, and only after a change) runs on the
        event loop: in a worker thread under load, each of its many short GIL hand-offs waits up
        to the interpreter's switch interval behind the busy loop, which stretched reloads past
        the 1-second budget in tests.
        """
        while True:
            await asyncio.sleep(self.interval)
            try:
                version = await asyncio.to_thread(self._store.control_version)
                self.apply(version)
            except RampwayError as exc:
                log.warning("control reload failed (keeping the previous snapshot): %s", exc)

    def _reload_config(self) -> bool:
        mtime = _mtime(self._config_path)
        if mtime == self._config_mtime or self._config_path is None:
            return False
        self._config_mtime = mtime
        try:
            text = self._config_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self._config_path}: cannot read: {exc}") from exc
        self._config = parse_config(text, str(self._config_path))
        log.info("reloaded %s", self._config_path)
        now = _restart_sections(self._config)
        changed = tuple(k for k in RESTART_SECTIONS if now[k] != self._started[k])
        if changed and changed != self.restart_needed:
            log.warning("%s: %s changed; this gateway keeps the old settings until it is "
                        "restarted", self._config_path, ", ".join(changed))
        self.restart_needed = changed
        return True


def _restart_sections(config: ProjectConfig) -> dict[str, object]:
    dumped = config.model_dump(mode="json", include=set(RESTART_SECTIONS))
    return {k: dumped.get(k) for k in RESTART_SECTIONS}


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime
    except OSError:
        return None


__all__ = [
    "RESTART_SECTIONS",
    "ControlSnapshot",
    "ControlWatcher",
    "FeatureEntry",
    "FeatureSettings",
    "SnapshotLoader",
]
