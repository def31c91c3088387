"""`rampway doctor`: every interlock check over the project and its store, in one report.

The same checks the write paths make (`Routing`, `check_release`, `check_model_flags`), run over
what is already there — a catalog edit or a removed provider can make yesterday's release or
flag unroutable — plus what no write path sees:

    config        rampway.yaml and its `catalog:` parse
    env           each provider's key variable (and RAMPWAY_*) set but empty, or missing
    release       each working-tree release: valid and routable (primary + fallbacks)
    flag-files    flags/*.yaml: valid, every `.model` value routable
    channel       each channel in the store points at a routable release
    flags         each stored `.model` flag routable
    rollout       each rollout in flight: its candidate routable
    experiment    each running experiment: every arm's release routable
    serving       what /readyz lists after a reload (`rampway.gateway.unroutable`, the same
                  function over the same snapshot): each entry no check above already failed
                  on — a `.release` flag pin, a running shadow's candidate — is a failed check
                  named as /readyz names it (`flag support-bot.release`, `shadow support-bot`)
    reach         (opt-in, `--reach`) each provider answers a 1-token call

Each check is a `Check` (name, status ok|warn|fail|skip, detail); the command exits 1 when one
failed. Collecting never raises for what it checks: a broken piece is a failed check, so one
report shows everything at once.

Example:
    checks = run_checks(project, env=os.environ)
    [c for c in checks if c.status == "fail"]
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from rampway.errors import RampwayError

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.release._routable import Routing
    from rampway.store import Store

Status = Literal["ok", "warn", "fail", "skip"]
# Variables rampway itself reads; an empty one silently means "unset" to some readers only.
RAMPWAY_VARS = ("RAMPWAY_DB", "RAMPWAY_PROJECT", "RAMPWAY_API_KEY", "RAMPWAY_ACTOR")
_OFFICIAL_KEY = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # e.g. "channel support-bot/production"
    status: Status
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _guard(name: str, fn: Any, *args: Any) -> Check:
    """Run one check function; a RampwayError it raises is the check's failure."""
    try:
        detail = fn(*args)
    except RampwayError as exc:
        return Check(name, "fail", exc.message)
    return Check(name, "ok", detail or "ok")


# -- environment --------------------------------------------------------------------------------


def env_checks(project: Project, env: Mapping[str, str]) -> list[Check]:
    """Key variables: a provider's missing or empty key, any RAMPWAY_* set but empty."""
    out: list[Check] = []
    for name, cfg in sorted(project.config.providers.items()):
        var = cfg.api_key_env or (_OFFICIAL_KEY.get(cfg.kind) if cfg.base_url is None else None)
        if var is None:
            continue
        label = f"env {var} (provider {name})"
        if var not in env:
            out.append(Check(label, "fail", f"{var} is not set; provider {name!r} needs it"))
        elif not env[var].strip():
            out.append(Check(label, "fail", f"{var} is set but empty; set the key or unset it"))
        else:
            out.append(Check(label, "ok", "set"))
    out.extend(
        Check(f"env {var}", "fail", f"{var} is set but empty; unset it or give it a value")
        for var in RAMPWAY_VARS
        if var in env and not env[var].strip()
    )
    return out


# -- the repo -------------------------------------------------------------------------------------


def release_checks(project: Project, routing: Routing) -> list[Check]:
    from rampway.release import discover, load_release
    from rampway.release._project import check_release

    def one(feature: str, directory: Any) -> str:
        release = load_release(directory, feature=feature)
        check_release(project, release, directory, routing)
        return f"{release.id}: " + " → ".join(f"{p}/{m}" for p, m in release.models)

    return [
        _guard(f"release {feature}", one, feature, directory)
        for feature, directory in discover(project.root).items()
    ]


def flag_file_checks(project: Project, routing: Routing) -> list[Check]:
    from rampway.flags import load_flag_files
    from rampway.flags.routable import check_model_flags
    from rampway.flags.store import discover_flag_files
    from rampway.release import discover, load_release

    files = discover_flag_files(project.root)
    if not files:
        return []
    providers: dict[str, set[str]] = {}
    for feature, directory in discover(project.root).items():
        try:
            providers[feature] = {load_release(directory, feature=feature).models[0][0]}
        except RampwayError:
            continue  # its own release check reports it

    def load() -> str:
        fs = load_flag_files(files, lambda s: check_model_flags(s.flags.values(), routing,
                                                               providers))
        return f"{len(fs.flags)} flag(s) in {len(files)} file(s)"

    return [_guard("flag-files", load)]


# -- the store ------------------------------------------------------------------------------------


def store_checks(project: Project, store: Store, routing: Routing) -> list[Check]:
    """Channels, stored flags, rollouts in flight, running experiments, then what /readyz
    would list as unroutable that none of those already failed on."""
    from rampway.release import Release
    from rampway.release._project import check_release
    from rampway.release.protect import requirements

    failed: set[tuple[str, str]] = set()  # (kind, release id) a check below failed on

    def routable(release_id: str, feature: str, kind: str) -> str:
        rec = store.get_release(feature, release_id)
        try:
            check_release(project, Release.from_canonical(rec.canonical), None, routing)
        except RampwayError:
            failed.add((kind, release_id))
            raise
        return release_id

    def channel(state: Any) -> str:
        need = requirements(project.config, state.channel)
        shown = [n for n, on in (("gate", need.gate), ("approval", need.approval)) if on]
        protected = f" (protected: {', '.join(shown)})" if shown else ""
        return routable(state.release_id, state.feature, "channel") + protected

    out = [_guard(f"channel {c.feature}/{c.channel}", channel, c) for c in store.list_channels()]
    flags = _guard("flags (store)", _stored_flags, store, routing)
    out.append(flags)
    out.extend(_in_flight(store, routable))
    out.extend(serving_checks(project, store, routing, failed,
                              flags_failed=flags.status == "fail"))
    return out


def serving_checks(
    project: Project, store: Store, routing: Routing,
    failed: Collection[tuple[str, str]] = frozenset(), *, flags_failed: bool = False,
) -> list[Check]:
    """/readyz's `unroutable` list, computed by the same function over the snapshot a gateway
    with this rampway.yaml would load: one `serving` line, plus a failed check (named as
    /readyz names the reference) for each entry `failed` — the (kind, release id) pairs the
    channel, rollout and experiment checks already failed on — does not cover. A `.model`
    flag's entry is covered when `flags (store)` failed (`flags_failed`)."""
    from rampway.gateway.control import SnapshotLoader
    from rampway.gateway.unroutable import unroutable

    try:
        snapshot = SnapshotLoader(store).load(project.config, store.control_version())
    except RampwayError as exc:
        return [Check("serving", "fail", f"cannot load what the gateway serves: {exc.message}")]
    found = unroutable(snapshot, routing)
    if not found:
        return [Check("serving", "ok", "nothing served, pinned, rolled out, in an experiment "
                                       "or shadowed is unroutable (as /readyz reports)")]

    def covered(what: str, release: str | None) -> bool:
        if release is None:
            return flags_failed
        return (what.split(" ", 1)[0], release) in failed

    out = [Check("serving", "fail", f"/readyz lists {len(found)} unroutable reference(s): "
                                    + ", ".join(u.what for u in found))]
    out += [Check(u.what, "fail", u.problem if u.release is None else f"{u.release} {u.problem}")
            for u in found if not covered(u.what, u.release)]
    return out


def _stored_flags(store: Store, routing: Routing) -> str:
    from rampway.flags.routable import check_model_flags
    from rampway.flags.store import FlagStore, release_providers

    flags = FlagStore(store).flagset().flags
    with store.reading() as conn:
        providers = release_providers(conn)
    check_model_flags(flags.values(), routing, providers)
    return f"{len(flags)} flag(s)"


def _in_flight(store: Store, routable: Any) -> Iterable[Check]:
    from rampway.experiments import repo as experiments
    from rampway.rollout import repo as rollouts

    for r in rollouts.list_active(store):
        yield _guard(f"rollout {r.feature} #{r.id}", routable, r.candidate, r.feature,
                     "rollout")
    for e in experiments.list_running(store):
        def arms(e: Any = e) -> str:
            return ", ".join(routable(a.release_id, e.feature, "experiment") for a in e.arms)

        yield _guard(f"experiment {e.name}", arms)


# -- reachability (opt-in: it calls the providers) -----------------------------------------------


async def reach_checks(project: Project, routing: Routing, timeout: float = 10.0) -> list[Check]:
    """One 1-token call per configured provider, with a model the project uses on it."""
    from rampway.gateway.runtime import provider_config
    from rampway.providers.registry import build_providers
    from rampway.providers.types import ChatRequest, Message

    models = _models_in_use(project)
    out: list[Check] = []
    for name in sorted(project.config.providers):
        label = f"reach {name}"
        model = models.get(name) or _catalog_model(routing, name)
        if model is None:
            out.append(Check(label, "skip", "no model known for this provider"))
            continue
        try:
            registry = build_providers({name: provider_config(project)[name]})
            try:
                request = ChatRequest(model=model, messages=[Message("user", "ping")],
                                      max_tokens=1)
                await registry.get(name).complete(request, timeout=timeout)
            finally:
                await registry.aclose()
        except RampwayError as exc:
            out.append(Check(label, "fail", f"{model}: {exc.message}"))
            continue
        out.append(Check(label, "ok", f"{model} answered"))
    return out


def _models_in_use(project: Project) -> dict[str, str]:
    from rampway.release import discover, load_release

    found: dict[str, str] = {}
    for feature, directory in discover(project.root).items():
        try:
            release = load_release(directory, feature=feature)
        except RampwayError:
            continue
        for provider, model in release.models:
            found.setdefault(provider, model)
    return found


def _catalog_model(routing: Routing, provider: str) -> str | None:
    kind = routing.kinds.get(provider)
    for entry in routing.catalog:
        if entry.provider in (provider, kind):
            return entry.model
    return None


# -- all of it ------------------------------------------------------------------------------------


def run_checks(
    project: Project, *, env: Mapping[str, str], store: Store | None = None,
    reach: bool = False,
) -> list[Check]:
    """Every check, in report order (see the module docstring)."""
    from rampway.release._routable import Routing

    try:
        routing = Routing.of(project)
    except RampwayError as exc:
        return [Check("config", "fail", exc.message)]
    checks = [Check("config", "ok", f"{project.config_path}")]
    checks += env_checks(project, env)
    checks += release_checks(project, routing)
    checks += flag_file_checks(project, routing)
    if store is None:
        checks.append(Check("store", "skip", "no database yet (nothing published)"))
    else:
        checks += store_checks(project, store, routing)
    if reach:
        checks += asyncio.run(reach_checks(project, routing))
    return checks


__all__ = ["Check", "env_checks", "reach_checks", "run_checks", "serving_checks", "store_checks"]
