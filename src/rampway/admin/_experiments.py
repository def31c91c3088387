"""Admin API routes for A/B experiments — the same store operations as `rampway experiment …`.

    GET  /api/v1/experiments?feature=&name=&running=&limit=  viewer  newest first
    POST /api/v1/experiments/{name}                          editor  start (201)
    GET  /api/v1/experiments/{name}                          viewer  the latest of that name,
                                                                     with exposure (ETag = version)
    GET  /api/v1/experiments/{name}/{experiment_id}          viewer  one of them, by id
    POST /api/v1/experiments/{name}/stop                     editor  stop (If-Match honoured)

A start takes the definition as JSON in the body (the shape of `experiments/<name>.yaml`), or
without one reads that file in the served project. Like a rollout start, every arm must be
routable (422 `unroutable_model`) and each arm not serving production's release needs a
recorded gate PASS against production (400 naming the arm and the `rampway gate` command),
unless `skip_gate` with a `reason` (audited as `experiment.gate_skipped`). Over the API an arm's
`release` is a channel or a published release (id, id prefix, digest): publish new releases
first (`POST /features/{feature}/releases`); the CLI also takes repo refs and publishes them.

`rampway.experiments.repo` writes each start/stop with its audit row (`experiment.start`,
`experiment.stop`, actor = the key's name) and a control-version bump in one transaction; these
routes add no audit rows of their own. Status codes: a start the feature's state rules out
(an active rollout, a running experiment) or a stop of a stopped experiment is 409
`state_conflict`; a stale If-Match 409 `conflict`; bad input 400; an unknown name or release 404.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from rampway.admin._ids import check_id
from rampway.admin._routing import REASON_DOC, Auth, IfMatch, IfMatchParser, StartedRoutes
from rampway.admin.keys import AdminKey, Role
from rampway.config import Project, ProjectSource
from rampway.errors import RefError
from rampway.experiments import ExperimentRecord, repo
from rampway.experiments.gating import require_arm_gates
from rampway.experiments.spec import (
    Definition,
    check_name,
    definition_from,
    definition_path,
    load_definition,
)
from rampway.store import Store


class ExperimentStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | None = Field(
        None,
        description="The definition as JSON (the shape of experiments/<name>.yaml); default: "
        "that file in the server's project.",
    )
    reason: str = Field("", description="Why (audit log); required with skip_gate.")
    skip_gate: StrictBool = Field(False, description="Start arms without a recorded PASS gate "
                            "against production (audited).")


class ExperimentStopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description=REASON_DOC)


class ExperimentRoutes(StartedRoutes):
    """What the routes share: the store and the served project's root (for definitions)."""

    def __init__(
        self, store: Store, root: Path | None, project: Project | ProjectSource | None = None
    ) -> None:
        super().__init__(store, root, project)  # with a project, every arm must be routable

    def definition(self, name: str, data: dict[str, Any] | None) -> Definition:
        if data is not None:
            return definition_from(data, "definition")
        return load_definition(definition_path(self.served_root(), name))

    def one(self, name: str, experiment_id: int) -> ExperimentRecord:
        check_id(experiment_id, "experiment")
        found = repo.get(self.store, experiment_id)
        if found.name != check_name(name):
            raise RefError(f"no experiment #{experiment_id} called {name!r}")
        return found

    def status(self, record: ExperimentRecord, status_code: int = 200) -> JSONResponse:
        doc = {**record.to_json(), "exposure": repo.exposure(self.store, record, time.time())}
        return self.etagged(doc, record.version, status_code)


def _brief(record: ExperimentRecord) -> dict[str, Any]:
    doc = record.to_json()
    doc.pop("definition")
    return doc


def experiment_routes(routes: ExperimentRoutes, auth: Auth, if_match: IfMatchParser) -> APIRouter:
    r = APIRouter(prefix="/experiments", tags=["experiments"])
    viewer = Annotated[AdminKey, Depends(auth(Role.VIEWER))]
    editor = Annotated[AdminKey, Depends(auth(Role.EDITOR))]

    @r.get("")
    def experiments(
        key: viewer,
        feature: str | None = None,
        name: str | None = None,
        running: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Experiments, newest first: all, one feature's or name's, or only the running ones."""
        found = repo.recent(routes.store, feature=feature, name=name, running_only=running,
                            limit=limit)
        return {"experiments": [_brief(x) for x in found]}

    @r.post("/{name}", status_code=201)
    def start(name: str, body: ExperimentStartIn, key: editor) -> JSONResponse:
        """Start serving the experiment's arms; refused (nothing written) while the feature has
        an active rollout or a running experiment."""
        definition = routes.definition(check_name(name), body.definition)
        releases = [routes.release(definition.feature, a.release) for a in definition.arms]
        repo.check_arms(routes.store, definition, releases)  # the gate last, as for a rollout
        repo.check_can_start(routes.store, name, definition.feature)
        gates = require_arm_gates(
            routes.store, definition.feature,
            [(a.name, r, a.release) for a, r in zip(definition.arms, releases, strict=True)],
            project_root=routes.root, skip_reason=body.reason if body.skip_gate else None)
        started = repo.start(routes.store, name, definition, releases, actor=key.name,
                             reason=body.reason.strip() or f"start experiment {name}",
                             now=time.time(), gates=gates)
        return routes.status(started, 201)

    @r.get("/{name}")
    def latest(name: str, key: viewer) -> JSONResponse:
        """The latest experiment of that name: arms, split, window, exposure so far."""
        return routes.status(repo.latest(routes.store, name))

    @r.get("/{name}/{experiment_id:int}")
    def one(name: str, experiment_id: int, key: viewer) -> JSONResponse:
        """One experiment of that name, by id."""
        return routes.status(routes.one(name, experiment_id))

    @r.post("/{name}/stop")
    def stop(name: str, body: ExperimentStopIn, key: editor,
             if_match_header: IfMatch = None) -> JSONResponse:
        """Stop it: every unit is served production again; the record stays for analysis."""
        stopped = repo.stop(routes.store, repo.latest(routes.store, name), actor=key.name,
                            reason=body.reason, now=time.time(),
                            expected_version=if_match(if_match_header))
        return routes.status(stopped)

    return r


__all__ = ["ExperimentRoutes", "experiment_routes"]
