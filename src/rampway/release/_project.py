"""Checks that need both a release and its project's rampway.yaml.

A release names providers by the names configured in rampway.yaml, its models must be routable
(`rampway.release._routable`), and a feature's configured mode (if any) must match its release;
none of that can be checked from the release files alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rampway._yaml import load_located
from rampway.errors import ReleaseError, UnroutableRelease
from rampway.release._loader import RELEASE_FILE, load_release
from rampway.release._release import Release
from rampway.release._routable import Routing
from rampway.release._sources import DirSource

if TYPE_CHECKING:
    from rampway.config import Project


def check_release(
    project: Project,
    release: Release,
    directory: Path | None = None,
    routing: Routing | None = None,
) -> None:
    """Raise ReleaseError (with `file:line` when `directory` is given) if `release` does not fit
    the project: a model (primary or fallback) the gateway could not route — an unconfigured
    provider or no catalog entry, `UnroutableRelease` — or a mode that contradicts rampway.yaml.

    Every path that makes a release reachable runs this (validate, publish, channel set,
    rollout/experiment start, the admin API), so an unroutable model never reaches a channel.
    """
    routing = routing or Routing.of(project)
    for index, (provider, model) in enumerate(release.models):
        problem = routing.problem(provider, model)
        if problem is not None:
            role = "model" if index == 0 else f"fallbacks[{index - 1}]"
            key: tuple[str | int, ...] = ("model",) if index == 0 else ("fallbacks", index - 1)
            raise _located(directory, key, f"{release.feature} ({role}): {problem}",
                           UnroutableRelease)
    feature_cfg = project.config.features.get(release.feature)
    if feature_cfg and feature_cfg.mode and feature_cfg.mode != release.spec.mode:
        raise _located(
            directory,
            ("mode",),
            f"{release.feature}: mode {release.spec.mode!r} contradicts rampway.yaml "
            f"features.{release.feature}.mode = {feature_cfg.mode!r}",
        )


def load_checked(project: Project, directory: Path, feature: str | None = None) -> Release:
    """`load_release` plus `check_release`: what `validate` and `publish` run per feature."""
    release = load_release(directory, feature=feature)
    check_release(project, release, directory)
    return release


def _located(
    directory: Path | None,
    key: tuple[str | int, ...],
    message: str,
    error: type[ReleaseError] = ReleaseError,
) -> ReleaseError:
    if directory is None:
        return error(message)
    source = DirSource(directory)
    file = source.display(RELEASE_FILE)
    text = source.read(RELEASE_FILE) or ""
    return error(message, file=file, line=load_located(text, file).line_of(key))


__all__ = ["check_release", "load_checked"]
