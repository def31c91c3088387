"""Release refs for the commands that start or move something: resolved in the local project
(and its store), or — with `--server` — a local project only if there is one.

    release = routable_release(proj, "support-bot", "releases/support-bot", store)
    proj = local_project(project_option)      # None outside a project: the server decides

Resolving pulls in the release code (pydantic, Jinja) and the store: imported inside the
functions, so that `rampway --help` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rampway.errors import ConfigError

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.release import Release
    from rampway.store import Store


def routable_release(project: Project, feature: str, ref: str,
                     store: Store | None = None) -> Release:
    """The release `ref` names (with `store`, also one published there), refused now, before
    anything is written, if the gateway could not route it (no provider, no catalog entry)."""
    from rampway.release import check_release, resolve_ref
    from rampway.release._refs import release_dir_for

    release = resolve_ref(project, feature, ref, store)
    check_release(project, release, release_dir_for(project, ref))
    return release


def local_project(project: Path | None) -> Project | None:
    """The local project, if there is one: with `--server` it is optional, needed only for
    what lives in the working tree (release directories, git refs, definition files)."""
    from rampway.config import find_project_root, load_project

    if project is None:
        try:
            find_project_root()
        except ConfigError:
            return None
    return load_project(project)


__all__ = ["local_project", "routable_release"]
