"""What the admin route modules share: the types they are built with, and the common part of
the routes that start a record from a definition file (experiments, shadows).

    class ShadowRoutes(StartedRoutes):
        def definition(self, name, data):
            if data is not None:
                return definition_from(data, "definition")
            return load_definition(definition_path(self.served_root(), name))

Both read the definition from the request body or else the served project's file, resolve each
release ref against the store (refusing unroutable ones when a project is served), and answer
with the record's status document and its version as the ETag (for If-Match on the next write).
"""

# No `from __future__ import annotations`: FastAPI reads the aliases below at runtime.
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from rampway.admin.keys import AdminKey, Role
from rampway.config import Project, ProjectSource, project_source
from rampway.errors import ConfigError
from rampway.release import Release, check_release
from rampway.store import Store

IfMatchParser = Callable[[str | None], int | None]
Auth = Callable[[Role], Callable[..., AdminKey]]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
#: How every required `reason` field is documented: the store refuses a blank one
#: (`rampway._reason.require_reason`), so a missing and an empty reason answer alike.
REASON_DOC = ("Why (audit log). Required: missing, empty or blank is refused with 422 "
              "`reason_required`.")


class StartedRoutes:
    """The store, the served project's root (for definition files) and the project itself
    (with it, every release a start names must be routable) — or a source of it, read at each
    request: in a gateway, rampway.yaml as last reloaded."""

    def __init__(self, store: Store, root: Path | None,
                 project: Project | ProjectSource | None = None) -> None:
        self.store = store
        self.root = root
        self._project = project_source(project)

    @property
    def project(self) -> Project | None:
        return self._project()

    def served_root(self) -> Path:
        """Where the definition files are; ConfigError when no project is served."""
        if self.root is None:
            raise ConfigError("no project is served: send the definition in the request body")
        return self.root

    def release(self, feature: str, ref: str) -> str:
        """A channel name stands for the release it serves; anything else is a release ref."""
        channel = self.store.get_channel(feature, ref)
        target = ref if channel is None else channel.release_id
        record = self.store.get_release(feature, target)
        if self.project is not None:  # refused now: it would 500 its share of the traffic later
            check_release(self.project, Release.from_canonical(record.canonical))
        return record.release_id

    @staticmethod
    def etagged(doc: dict[str, Any], version: int, status_code: int = 200) -> JSONResponse:
        return JSONResponse(doc, status_code=status_code, headers={"etag": f'"{version}"'})


__all__ = ["REASON_DOC", "Auth", "IfMatch", "IfMatchParser", "StartedRoutes"]
