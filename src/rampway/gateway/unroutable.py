"""What a serving snapshot references that rampway.yaml, as it is now, cannot route. Pure.

Every write path refuses an unroutable model (`rampway.release._routable`), but rampway.yaml can
change under what is already live: a provider renamed, a `catalog:` entry removed. The gateway
keeps the router it started with (`providers:` and `catalog:` apply at a restart), so serving
goes on — until the restart, when every request for such a release answers 500. `/readyz` lists
what `unroutable` finds after each reload, so an operator sees it before restarting (or a new
pod starts), not only `rampway doctor`:

    channel support-bot/production     each channel's release (primary and fallbacks)
    flag support-bot.release           each release a `.release` flag pins by id
    flag support-bot.model             each model a `.model` flag can serve
    rollout support-bot                each active rollout's candidate
    experiment support-bot             each running experiment's arms
    shadow support-bot                 each running shadow's candidates (mirrored, not served,
                                       but every mirrored request would fail)

Example:
    [u.to_json() for u in unroutable(watcher.snapshot, Routing.from_config(config))]
    # [{"what": "channel support-bot/production", "release": "support-bot@3f2a9c1e",
    #   "problem": "provider 'sim' (for sim-large) is not configured in rampway.yaml …"}]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rampway.flags._model import FlagType
from rampway.flags.native import native_name
from rampway.flags.routable import located_values, model_flag_problem

if TYPE_CHECKING:
    from rampway.gateway.control import ControlSnapshot
    from rampway.release import Release, Routing


@dataclass(frozen=True, slots=True)
class Unroutable:
    what: str  # where the reference is: "channel support-bot/production", "flag k", …
    release: str | None  # the release id it serves (None for a `.model` flag's value)
    problem: str  # one sentence, as every write path words it

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "release": self.release, "problem": self.problem}


def release_problem(release: Release, routing: Routing) -> str | None:
    """Why `release` could not be served (its first unroutable model), or None."""
    for index, (provider, model) in enumerate(release.models):
        problem = routing.problem(provider, model)
        if problem is not None:
            role = "model" if index == 0 else f"fallbacks[{index - 1}]"
            return f"{role}: {problem}"
    return None


def unroutable(snapshot: ControlSnapshot, routing: Routing) -> list[Unroutable]:
    """Every reference in `snapshot` that `routing` cannot serve, in a stable order."""
    found = list(_releases(snapshot, routing))
    found.extend(_model_flags(snapshot, routing))
    return sorted(set(found), key=lambda u: (u.what, u.release or "", u.problem))


def _releases(snapshot: ControlSnapshot, routing: Routing) -> Iterator[Unroutable]:
    refs: list[tuple[str, Release]] = [
        (f"channel {name}/{channel}", release)
        for name, entry in snapshot.features.items()
        for channel, release in entry.channels.items()
    ]
    refs += _by_id("flag {}.release", snapshot.pinned)
    refs += _by_id("rollout {}", snapshot.rollout_releases)
    refs += _by_id("experiment {}", snapshot.experiment_releases)
    refs += _by_id("shadow {}", snapshot.shadow_releases)
    for what, release in refs:
        problem = release_problem(release, routing)
        if problem is not None:
            yield Unroutable(what, release.id, problem)


def _by_id(what: str, releases: Mapping[str, Release]) -> Iterable[tuple[str, Release]]:
    return [(what.format(release.feature), release) for release in releases.values()]


def _model_flags(snapshot: ControlSnapshot, routing: Routing) -> Iterator[Unroutable]:
    providers = {name: {r.models[0][0] for r in entry.channels.values()}
                 for name, entry in snapshot.features.items()}
    for flag in snapshot.flags.flags.values():
        named = native_name(flag.key)
        if named is None or named[1] != "model" or flag.type is not FlagType.STRING:
            continue
        for _rule, _path, value in located_values(flag):
            if not isinstance(value, str):
                continue
            problem = model_flag_problem(named[0], value, routing, providers.get(named[0], ()))
            if problem is not None:
                yield Unroutable(f"flag {flag.key}", None, f"value {value!r}: {problem}")


__all__ = ["Unroutable", "release_problem", "unroutable"]
