"""Releases: immutable, content-addressed versions of a feature, loaded from repo files.

    from rampway.release import load_release, resolve_ref, diff_releases

    r = load_release(Path("releases/support-bot"))      # validates everything, names file:line
    r.id                                                # 'support-bot@3f2a9c1e'
    r.render({"customer_name": "Ada"}, user_message="Where is my order?")
    r.base_request(messages)                            # ChatRequest with model/params/tools
    resolve_ref(project, "support-bot", "HEAD~1")       # path, id, channel or git revision
    diff_releases(old, new).render()

See `_spec` for the release.yaml schema and `_release` for how identity is computed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rampway.release._diff import FieldChange, FileChange, ReleaseDiff, diff_releases
    from rampway.release._loader import RELEASE_FILE, RELEASES_DIR, discover, load_release
    from rampway.release._project import check_release, load_checked
    from rampway.release._refs import resolve_ref
    from rampway.release._release import Release
    from rampway.release._routable import Routing
    from rampway.release._spec import INPUT_VARIABLE, ReleaseSpec

# Imported on first use: `rampway.release._routable` (what flag checks need) must not pay for
# Jinja, the pydantic release schema and difflib (`rampway flags set` is a light command).
_HOME = {
    "FieldChange": "_diff", "FileChange": "_diff", "ReleaseDiff": "_diff",
    "diff_releases": "_diff", "RELEASE_FILE": "_loader", "RELEASES_DIR": "_loader",
    "discover": "_loader", "load_release": "_loader", "check_release": "_project",
    "load_checked": "_project", "resolve_ref": "_refs", "Release": "_release",
    "Routing": "_routable", "INPUT_VARIABLE": "_spec", "ReleaseSpec": "_spec",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'rampway.release' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rampway.release.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "INPUT_VARIABLE",
    "RELEASES_DIR",
    "RELEASE_FILE",
    "FieldChange",
    "FileChange",
    "Release",
    "ReleaseDiff",
    "ReleaseSpec",
    "Routing",
    "check_release",
    "diff_releases",
    "discover",
    "load_checked",
    "load_release",
    "resolve_ref",
]
