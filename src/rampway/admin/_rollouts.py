"""Admin API routes for staged rollouts — the same controller as `rampway rollout …`.

    GET  /api/v1/rollouts?feature=&active=&limit=          viewer   newest first
    POST /api/v1/rollouts/{feature}                         editor   start (201), of a published
                                                                     release or of canonical text
    GET  /api/v1/rollouts/{feature}                         viewer   latest rollout: steps, gate,
                                                                     guardrails (ETag = version)
    GET  /api/v1/rollouts/{feature}/{rollout_id}            viewer   one rollout of the feature
    POST /api/v1/rollouts/{feature}/pause|resume|approve|promote|abort|rollback   editor

Every change goes through `rampway.rollout.Controller`, which writes the rollout row and its audit
entries (rollout.create, rollout.gate_skipped, rollout.<transition>) in one transaction with the
key's name as actor; these routes add no audit rows of their own. A start needs a recorded PASS
gate of the candidate against the release the plan's baseline channel serves, unless
`skip_gate` with a `reason` (audited). Commands honour `If-Match: "<version>"` (409 if stale).

Status codes: a command or start that the current state rules out — resume a running
rollout, pause one that already completed or rolled back, start while another rollout of the
feature is active — is 409 with `type: state_conflict` (`rampway.errors.StateConflict`); a
stale If-Match is 409 `conflict`; bad input 400; a feature that never had a rollout 404.
Guardrail results are recomputed from the event log for an active rollout, else the last
stored look.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from rampway.admin._ids import check_feature_name, check_id
from rampway.admin._routing import REASON_DOC, Auth, IfMatch, IfMatchParser
from rampway.admin.keys import AdminKey, Role
from rampway.config import Project, ProjectSource, load_project, project_source
from rampway.errors import ConfigError, RefError
from rampway.release import Release, check_release
from rampway.rollout import Notifier, Plan, RolloutRecord, plan_for, repo
from rampway.rollout.state import COMMANDS
from rampway.rollout.views import brief_json, listing_json, rollout_json
from rampway.store import Store

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents
    from rampway.rollout.controller import Controller


class RolloutStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate: str = Field(
        min_length=1,
        description="A published release of the feature (id, id prefix, digest) or a channel; "
        "with `canonical`, just how the caller names that release (for messages).",
    )
    canonical: str | None = Field(
        None,
        description="The candidate's canonical text (`rampway release show`) when it is not "
        "published yet: published (as the key) only once the start is accepted.",
    )
    plan: dict[str, Any] | None = Field(
        None,
        description="The plan as JSON (the shape of rollouts/<feature>.yaml); default: that "
        "file in the server's project, else the default plan.",
    )
    reason: str = Field("", description="Why (audit log); required with skip_gate.")
    skip_gate: StrictBool = Field(False,
                                  description="Start without a recorded PASS gate (audited).")


class RolloutCommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description=REASON_DOC)


def parse_plan_json(feature: str, data: dict[str, Any]) -> Plan:
    """A plan from a request body; errors name the offending key (`plan.steps.0.weight: …`)."""
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("plan", *first.get("loc", ())))
        message = str(first.get("msg", "invalid")).replace("Value error, ", "")
        raise ConfigError(f"{where}: {message}", param=where) from exc
    if plan.feature is not None and plan.feature != feature:
        raise ConfigError(f"plan is for feature {plan.feature!r}, not {feature!r}")
    return plan


class RolloutRoutes:
    """What the routes share: the store, one long-lived controller (its notifier delivers
    the webhooks) and the served project's root (for `rollouts/<feature>.yaml`)."""

    def __init__(self, store: Store, notifier: Notifier, root: Path | None,
                 project: Project | ProjectSource | None = None,
                 events: "ClickHouseEvents | None" = None) -> None:
        self.store = store
        # the gateway's own ClickHouse event log, when its events go there: the looks read it
        # instead of each route's controller opening (and never closing) another handle
        self.events = events
        self.notifier = notifier
        self.root = root
        # the served project as the server sees it now (in a gateway: as last reloaded);
        # without one given, rampway.yaml under `root` as read on first use
        self._project = None if project is None else project_source(project)

    @cached_property
    def controller(self) -> "Controller":
        """Built on first use: the judge brings numpy/scipy (a second or more to import),
        which a gateway worker that never serves a rollout route should not pay for."""
        from rampway.rollout.controller import Controller

        return Controller(self.store, notifier=self.notifier, project_root=self.root,
                          project=self._project, events=self.events)

    def status(self, r: RolloutRecord, status_code: int = 200) -> JSONResponse:
        evaluation = r.evaluation
        if r.status.active:
            fresh = self.controller.evaluate(r)
            evaluation = evaluation if fresh is None else fresh.as_dict()
        return JSONResponse(rollout_json(r, evaluation), status_code=status_code,
                            headers={"etag": f'"{r.version}"'})

    @property
    def project(self) -> Project | None:
        """The served project (for checking a release sent as canonical text), if any."""
        if self._project is not None:
            return self._project()
        return self._loaded

    @cached_property
    def _loaded(self) -> Project | None:
        return None if self.root is None else load_project(self.root)

    def start(self, feature: str, body: RolloutStartIn, key: AdminKey) -> RolloutRecord:
        """A published candidate starts as is; one sent as canonical text is checked like a
        publish and published only once nothing refuses the start (nothing written else)."""
        check_feature_name(feature)
        plan = self.plan(feature, body.plan)
        if body.canonical is None:
            candidate = self.candidate(feature, body.candidate)
        else:
            release = Release.from_canonical(body.canonical)
            if release.feature != feature:
                raise ConfigError(f"this release is of feature {release.feature!r}, "
                                  f"not {feature!r}")
            if self.project is not None:
                check_release(self.project, release)
            self.controller.check_start(feature, release.id, plan, published=False,
                                        skip_gate=body.skip_gate, reason=body.reason,
                                        candidate_ref=body.candidate)
            self.store.publish(feature, release.digest, release.id, release.canonical,
                               actor=key.name,  # the reason as the start words it
                               reason=body.reason.strip() or f"roll out {release.id}")
            candidate = release.id
        return self.controller.start(feature, candidate, plan=plan, actor=key.name,
                                     reason=body.reason, skip_gate=body.skip_gate)

    def plan(self, feature: str, data: dict[str, Any] | None) -> Plan:
        check_feature_name(feature)  # it names a file: rollouts/<feature>.yaml
        if data is not None:
            return parse_plan_json(feature, data)
        return Plan() if self.root is None else plan_for(self.root, feature)

    def candidate(self, feature: str, ref: str) -> str:
        """A channel name stands for the release it serves; anything else is a release ref."""
        channel = self.store.get_channel(feature, ref)
        target = ref if channel is None else channel.release_id
        return self.store.get_release(feature, target).release_id

    def latest(self, feature: str) -> RolloutRecord:
        found = repo.latest(self.store, feature)
        if found is None:
            raise RefError(f"feature {feature!r} has no rollouts")
        return found

    def one(self, feature: str, rollout_id: int) -> RolloutRecord:
        check_id(rollout_id, "rollout")
        try:
            found = repo.get(self.store, rollout_id)
        except ConfigError as exc:
            raise RefError(exc.message) from exc
        if found.feature != feature:
            raise RefError(f"no rollout #{rollout_id} of feature {feature!r}")
        return found


COMMAND_DOCS = {
    "pause": "Stop advancing (the candidate keeps its weight; critical guardrails still act).",
    "resume": "Continue a paused rollout (the step's clock and data window restart).",
    "approve": "Let a rollout waiting for approval enter its next step.",
    "promote": "Skip to 100%: the baseline channel moves to the candidate now.",
    "abort": "Stop the rollout: candidate weight 0, production untouched.",
    "rollback": "Roll the candidate back: weight 0 in every gateway within a second.",
}


def rollout_routes(routes: RolloutRoutes, auth: Auth, if_match: IfMatchParser) -> APIRouter:
    r = APIRouter(prefix="/rollouts", tags=["rollouts"])
    viewer = Annotated[AdminKey, Depends(auth(Role.VIEWER))]
    editor = Annotated[AdminKey, Depends(auth(Role.EDITOR))]

    @r.get("")
    def rollouts(
        key: viewer,
        feature: str | None = None,
        active: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Rollouts, newest first: all, one feature's, or (active=true) the unfinished ones."""
        found = repo.recent(routes.store, feature, limit, active=active)
        return {"rollouts": [listing_json(x) for x in found]}

    @r.post("/{feature}", status_code=201)
    def start(feature: str, body: RolloutStartIn, key: editor) -> JSONResponse:
        """Start rolling `candidate` out; refused (nothing written) without a passing gate."""
        return routes.status(routes.start(feature, body, key), 201)

    @r.get("/{feature}")
    def latest(feature: str, key: viewer) -> JSONResponse:
        """The feature's latest rollout: steps, gate, every guardrail's estimate and verdict."""
        return routes.status(routes.latest(feature))

    @r.get("/{feature}/{rollout_id:int}")
    def one(feature: str, rollout_id: int, key: viewer) -> JSONResponse:
        """One rollout of the feature, by id."""
        return routes.status(routes.one(feature, rollout_id))

    for name in COMMANDS:
        r.add_api_route(
            f"/{{feature}}/{name}", _command(routes, name, editor, if_match), methods=["POST"],
            name=f"rollout_{name}", summary=f"{name} the feature's active rollout",
            description=COMMAND_DOCS.get(name, ""),
        )
    return r


def _command(routes: RolloutRoutes, name: str, editor: Any,
             if_match: IfMatchParser) -> Callable[..., JSONResponse]:
    def command(feature: str, body: RolloutCommandIn, key: editor,
                if_match_header: IfMatch = None) -> JSONResponse:
        done = routes.controller.command(  # 404 for a feature that never had a rollout
            feature, name, actor=key.name, reason=body.reason,
            expected_version=if_match(if_match_header),
        )
        return routes.status(done)

    return command


__all__ = ["RolloutRoutes", "brief_json", "parse_plan_json", "rollout_json", "rollout_routes"]
