"""Admin API routes for shadow traffic — the same store operations as `rampway shadow …`.

    GET  /api/v1/shadows?feature=&name=&running=&limit=  viewer  newest first
    POST /api/v1/shadows/{name}                          editor  start (201)
    GET  /api/v1/shadows/{name}                          viewer  the latest of that name, with
                                                                 state, spend, pairs (ETag)
    POST /api/v1/shadows/{name}/stop                     editor  stop (If-Match honoured)

A start takes the definition as JSON in the body (the shape of `shadows/<name>.yaml`), or without
one reads that file in the served project. Over the API a candidate is a channel or a published
release (id, id prefix, digest): publish new releases first (`POST /features/{f}/releases`);
the CLI also takes repo refs and publishes them. With a served project every candidate must be
routable (a provider configured, a catalog entry), refused with 422 otherwise.

`rampway.shadow.repo` writes each start/stop with its audit row (`shadow.start`, `shadow.stop`,
actor = the key's name) and a control-version bump in one transaction. Status codes: a second
start of a running name or a stop of a stopped shadow is 409 `state_conflict`; a stale If-Match
409 `conflict`; bad input 400; an unknown name, feature or release 404.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rampway.admin._routing import REASON_DOC, Auth, IfMatch, IfMatchParser, StartedRoutes
from rampway.admin.keys import AdminKey, Role
from rampway.config import Project, ProjectSource, project_source
from rampway.shadow import repo
from rampway.shadow.record import ShadowRecord
from rampway.shadow.spec import (
    Definition,
    check_name,
    definition_from,
    definition_path,
    load_definition,
)
from rampway.shadow.views import brief_json, status_json
from rampway.store import Store


class ShadowStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | None = Field(
        None, description="The definition as JSON (the shape of shadows/<name>.yaml); default: "
        "that file in the server's project.")
    reason: str = Field("", description="Why (audit log).")


class ShadowStopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description=REASON_DOC)


class ShadowRoutes(StartedRoutes):
    """What the routes share: the store and the served project (definitions, routability)."""

    def __init__(self, store: Store, project: Project | ProjectSource | None = None) -> None:
        served = project_source(project)()
        super().__init__(store, None if served is None else served.root, project)

    def definition(self, name: str, data: dict[str, Any] | None) -> Definition:
        if data is not None:
            return definition_from(data, "definition")
        return load_definition(definition_path(self.served_root(), name))

    def status(self, record: ShadowRecord, status_code: int = 200) -> JSONResponse:
        return self.etagged(status_json(self.store, record, time.time()), record.version,
                            status_code)


def shadow_routes(routes: ShadowRoutes, auth: Auth, if_match: IfMatchParser) -> APIRouter:
    r = APIRouter(prefix="/shadows", tags=["shadows"])
    viewer = Annotated[AdminKey, Depends(auth(Role.VIEWER))]
    editor = Annotated[AdminKey, Depends(auth(Role.EDITOR))]

    @r.get("")
    def listing(
        key: viewer,
        feature: str | None = None,
        name: str | None = None,
        running: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Shadows, newest first: all, one feature's or name's, or only the running ones."""
        found = repo.recent(routes.store, feature=feature, name=name, running_only=running,
                            limit=limit)
        return {"shadows": [brief_json(x) for x in found]}

    @r.post("/{name}", status_code=201)
    def start(name: str, body: ShadowStartIn, key: editor) -> JSONResponse:
        """Start mirroring to the candidates; nothing is written on any refusal."""
        definition = routes.definition(check_name(name), body.definition)
        repo.check_feature(routes.store, definition.feature)
        releases = [routes.release(definition.feature, c) for c in definition.candidates]
        started = repo.start(routes.store, name, definition, releases, actor=key.name,
                             reason=body.reason.strip() or f"start shadow {name}", now=time.time())
        return routes.status(started, 201)

    @r.get("/{name}")
    def latest(name: str, key: viewer) -> JSONResponse:
        """The latest shadow of that name: state, spend today, pairs, not-mirrored counts."""
        return routes.status(repo.latest(routes.store, name))

    @r.post("/{name}/stop")
    def stop(name: str, body: ShadowStopIn, key: editor,
             if_match_header: IfMatch = None) -> JSONResponse:
        """Stop mirroring (every gateway within a second); the pairs stay for the report."""
        stopped = repo.stop(routes.store, repo.latest(routes.store, name), actor=key.name,
                            reason=body.reason, now=time.time(),
                            expected_version=if_match(if_match_header))
        return routes.status(stopped)

    return r


__all__ = ["ShadowRoutes", "shadow_routes"]
