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

from rampway.release._diff import FieldChange, FileChange, ReleaseDiff, diff_releases
from rampway.release._loader import RELEASE_FILE, RELEASES_DIR, discover, load_release
from rampway.release._project import check_release, load_checked
from rampway.release._refs import resolve_ref
from rampway.release._release import Release
from rampway.release._routable import Routing
from rampway.release._spec import INPUT_VARIABLE, ReleaseSpec

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
