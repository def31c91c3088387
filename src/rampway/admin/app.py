"""The admin API under `/api/v1` (FastAPI; schema at `/api/v1/openapi.json`).

    GET    /api/v1/whoami                                         viewer
    GET    /api/v1/features                                       viewer
    GET    /api/v1/features/{feature}                             viewer
    GET    /api/v1/features/{feature}/releases[/{ref}]            viewer
    GET    /api/v1/features/{feature}/timeline?release=&since=&limit=  viewer  `rampway.timeline`
    POST   /api/v1/features/{feature}/releases                    editor   publish canonical text
    POST   /api/v1/features/{feature}/releases/{ref}/approve      editor   record an approval
    GET    /api/v1/features/{feature}/channels[/{channel}]        viewer   (ETag = version)
    PUT    /api/v1/features/{feature}/channels/{channel}          editor   point at a release
                                          (protected channels: gate PASS/approval, else 422;
                                           `skip_gate: true` needs an admin key, audited)
    POST   /api/v1/features/{feature}/channels/{channel}/rollback editor
    GET    /api/v1/features/{feature}/channels/{channel}/history  viewer
    GET    /api/v1/flags[/{key}]   /api/v1/segments[/{key}]       viewer   (ETag = version)
    PUT    /api/v1/flags/{key}     /api/v1/segments/{key}         editor   create or replace
                                          (`.model`/`.release` flags: what production could be
                                           moved to, else 422; `skip_gate: true` for a `.model`
                                           flag needs an admin key, audited)
    DELETE /api/v1/flags/{key}     /api/v1/segments/{key}         editor
    POST   /api/v1/flag-files                                     editor   `rampway flags push`
    GET    /api/v1/keys   POST /api/v1/keys   DELETE /api/v1/keys/{name}              admin
    GET    /api/v1/app-keys   POST /api/v1/app-keys   DELETE /api/v1/app-keys/{name}  admin
    GET    /api/v1/audit?object_type=&object_id=&limit=           viewer
    GET    /api/v1/rollouts   GET /api/v1/rollouts/{feature}[/{id}] viewer   (see `_rollouts`)
    POST   /api/v1/rollouts/{feature}[/pause|resume|approve|promote|abort|rollback]  editor
    GET    /api/v1/experiments   GET /api/v1/experiments/{name}[/{id}]  viewer  (see `_experiments`)
    POST   /api/v1/experiments/{name}[/stop]                      editor
    GET    /api/v1/shadows   GET /api/v1/shadows/{name}           viewer  (see `_shadows`)
    POST   /api/v1/shadows/{name}[/stop]                          editor

Authentication: `Authorization: Bearer <admin key>` (or `X-API-Key`); none or unknown → 401,
a role too low → 403, both before the body is even looked at, so such calls change nothing.
Every change is made by the store in one transaction with its audit row (actor = the key's
name, the body's `reason`) and a control-version bump, so gateways apply it within a second.

Optimistic concurrency: GET of a channel, flag or segment returns `ETag: "<version>"`; send
it back as `If-Match` on PUT/DELETE/rollback and a stale one is refused with 409 (nothing
written). `If-Match: "0"` on a PUT means "create, must not exist yet". Without If-Match the
write is unconditional. Errors are JSON: `{"error": {"message", "type", "code", "param"}}`
(flag errors add `flag`, `rule`, `path`). Every write that records a reason refuses a missing,
empty or blank one with 422 `reason_required`, `param: "reason"` (`rampway._reason`).
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at runtime,
# and they use per-app `Annotated` aliases (viewer/editor) local to the router builders.
import importlib.util
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.exceptions import HTTPException

from rampway._reason import require_reason
from rampway.admin._clean import CleanInput
from rampway.admin._experiments import ExperimentRoutes, experiment_routes
from rampway.admin._rollouts import RolloutRoutes, rollout_routes
from rampway.admin._routing import REASON_DOC, IfMatch
from rampway.admin._shadows import ShadowRoutes, shadow_routes
from rampway.admin.keys import (
    AdminKey,
    Role,
    authenticate,
    create_admin_key,
    list_admin_keys,
    require,
    revoke_admin_key,
)
from rampway.config import Project, ProjectSource, project_source
from rampway.errors import (
    ConfigError,
    ConflictError,
    FlagError,
    RampwayError,
    RefError,
    RequestError,
)
from rampway.flags.store import FileDefinitions, FlagStore, Kind, plain_json
from rampway.gateway import keys as app_keys
from rampway.release import Release, check_release
from rampway.release.protect import approve, guard_move, record_override
from rampway.rollout import Notifier, Webhook
from rampway.rollout.plan import settings_from
from rampway.store import ChannelState, Store
from rampway.timeline import MAX_LIMIT, build_timeline, since_window

PREFIX = "/api/v1"

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents


# -- request bodies -------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReleaseIn(_Body):
    canonical: str = Field(description="The release's canonical text (`rampway release show`).")
    reason: str = Field("", description="Why it is published. " + REASON_DOC)


class ChannelIn(_Body):
    release: str = Field(description="Release id, id prefix or digest of a published release.")
    reason: str = Field("", description="Why the channel moves. " + REASON_DOC)
    skip_gate: StrictBool = Field(
        default=False,
        description="Move a protected channel without its gate PASS/approval (admin key; "
        "audited with `reason`).",
    )


class ApproveIn(_Body):
    reason: str = Field("", description="Why the release is approved. " + REASON_DOC)


class RollbackIn(_Body):
    reason: str = "rollback"


class DefinitionIn(_Body):
    definition: dict[str, Any] = Field(description="As one entry of flags/*.yaml, in JSON.")
    reason: str = Field("", description=REASON_DOC)
    skip_gate: StrictBool = Field(
        default=False,
        description="Let a `<feature>.model` flag serve a model production's release has no "
        "gate PASS with (admin key; audited as `flag.skip_gate` with `reason`). Never lets a "
        "`.release` pin through.",
    )


class FileDefinitionIn(_Body):
    kind: Kind
    key: str
    definition: dict[str, Any]
    file: str = Field(min_length=1, description="The repo file it comes from.")


class PushIn(_Body):
    """The definitions of the repo's flag files; see `rampway.flags.store` for precedence."""

    definitions: list[FileDefinitionIn]
    force: StrictBool = False
    dry_run: StrictBool = False
    reason: str = Field("", description=REASON_DOC)
    skip_gate: StrictBool = Field(False, description="As for PUT /flags/{key}, for every changed "
                            "`.model` flag (admin key; audited).")


class KeyIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    reason: str = Field("", description=REASON_DOC)


class AppKeyIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    features: list[str] | None = None
    reason: str = Field(default="", max_length=2000, description=REASON_DOC)


# -- plumbing -------------------------------------------------------------------------------------


def _jsonable(record: Any) -> dict[str, Any]:
    data = asdict(record)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); None when absent."""
    if value is None:
        return None
    text = value.strip()
    text = text[2:] if text.startswith("W/") else text
    text = text.strip('"')
    if not text.isdigit():
        raise RequestError(
            f"If-Match must be an ETag from a previous GET, like \"3\" (got {value!r})",
            param="If-Match",
        )
    return int(text)


def error_body(exc: RampwayError) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": exc.message,
        "type": exc.code,
        "code": exc.code,
        "param": getattr(exc, "param", None),
    }
    if isinstance(exc, FlagError):
        error.update(flag=exc.flag, rule=exc.rule, path=exc.path or None)
    return {"error": error}


def _install_errors(api: FastAPI) -> None:
    async def rampway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RampwayError)
        headers = {"www-authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        err = RequestError(f"{where}: {first.get('msg', 'invalid')}", param=where or None)
        return JSONResponse(error_body(err), status_code=400)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = "not_found" if exc.status_code == 404 else "invalid_request_error"
        body = {"error": {"message": str(exc.detail), "type": code, "code": code, "param": None}}
        return JSONResponse(body, status_code=exc.status_code)

    api.add_exception_handler(RampwayError, rampway_error)
    api.add_exception_handler(RequestValidationError, invalid)
    api.add_exception_handler(HTTPException, http_error)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class Admin:
    """What every route needs: the store, the flag store, the project (if serving one) — or a
    source of it, read at every request (the gateway's: rampway.yaml as last reloaded, so a
    write is validated against what serving will use)."""

    def __init__(self, store: Store, project: Project | ProjectSource | None,
                 notifier: Notifier | None = None, events: "ClickHouseEvents | None" = None,
                 ) -> None:
        self.store = store
        self.events = events
        self._project = project_source(project)
        # rollouts re-read rampway.yaml under the root at each check unless the project is live
        self._live = None if project is None or isinstance(project, Project) else project
        self.flags = FlagStore(store, project=self._project)
        served = self._project()
        self.root = None if served is None else served.root
        self.notifier = notifier or Notifier(_webhooks(served))

    @property
    def project(self) -> Project | None:
        return self._project()

    def rollouts(self) -> RolloutRoutes:
        return RolloutRoutes(self.store, self.notifier, self.root, self._live, self.events)

    def auth(self, role: Role) -> Callable[..., AdminKey]:
        """A dependency: the caller's key, checked against `role` (401/403 otherwise)."""

        def dependency(
            authorization: Annotated[str | None, Header()] = None,
            x_api_key: Annotated[str | None, Header()] = None,
        ) -> AdminKey:
            key = authenticate(self.store, _bearer(authorization) or x_api_key)
            require(key, role)
            return key

        return dependency


# -- routes ---------------------------------------------------------------------------------------


def _meta_routes(admin: Admin) -> APIRouter:
    r = APIRouter(tags=["meta"])
    viewer = Annotated[AdminKey, Depends(admin.auth(Role.VIEWER))]

    @r.get("/whoami")
    def whoami(key: viewer) -> dict[str, Any]:
        return key.to_json()

    @r.get("/audit")
    def audit(
        key: viewer,
        object_type: str | None = None,
        object_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        entries = admin.store.list_audit(
            object_type=object_type, object_id=object_id, limit=limit
        )
        return {"entries": [_jsonable(e) for e in entries]}

    return r


def _feature_routes(admin: Admin) -> APIRouter:
    r = APIRouter(prefix="/features", tags=["features"])
    viewer = Annotated[AdminKey, Depends(admin.auth(Role.VIEWER))]
    editor = Annotated[AdminKey, Depends(admin.auth(Role.EDITOR))]
    store = admin.store

    @r.get("")
    def features(key: viewer) -> dict[str, Any]:
        channels = store.list_channels()
        return {
            "features": [
                {"name": name, "channels": {c.channel: c.release_id for c in channels
                                            if c.feature == name}}
                for name in store.list_features()
            ]
        }

    @r.get("/{feature}")
    def feature(feature: str, key: viewer) -> dict[str, Any]:
        if feature not in store.list_features():
            raise RefError(f"unknown feature {feature!r}")
        return {
            "name": feature,
            "channels": [_jsonable(c) for c in store.list_channels(feature)],
            "releases": len(store.list_releases(feature)),
        }

    @r.get("/{feature}/timeline")
    def timeline(
        feature: str,
        key: viewer,
        release: str | None = None,
        since: Annotated[str | None, Query(description="A window back from now: 7d, 12h")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    ) -> dict[str, Any]:
        """Everything that happened to the feature (or one release), oldest first."""
        try:
            start = None if since is None else since_window(since)
        except ConfigError as exc:
            raise RequestError(exc.message, param="since") from None
        entries = build_timeline(store, feature, release=release, since=start, limit=limit)
        return {"feature": feature, "since": None if start is None else start.isoformat(),
                "entries": [e.to_json() for e in entries]}

    @r.get("/{feature}/releases")
    def releases(feature: str, key: viewer) -> dict[str, Any]:
        return {"releases": [_release_json(rec) for rec in store.list_releases(feature)]}

    @r.get("/{feature}/releases/{ref}")
    def release(feature: str, ref: str, key: viewer) -> dict[str, Any]:
        rec = store.get_release(feature, ref)
        return {**_release_json(rec), "canonical": rec.canonical}

    @r.post("/{feature}/releases", status_code=201)
    def publish(feature: str, body: ReleaseIn, key: editor) -> JSONResponse:
        require_reason(body.reason, f"publishing a release of {feature}")  # before all else
        rel = Release.from_canonical(body.canonical)
        if rel.feature != feature:
            raise ConfigError(f"this release is of feature {rel.feature!r}, not {feature!r}")
        project = admin.project
        if project is not None:
            check_release(project, rel)
        new = store.publish(
            feature, rel.digest, rel.id, rel.canonical, actor=key.name, reason=body.reason
        )
        out = {"release_id": rel.id, "digest": rel.digest, "created": new}
        return JSONResponse(out, status_code=201 if new else 200)

    @r.post("/{feature}/releases/{ref}/approve")
    def approve_release(feature: str, ref: str, body: ApproveIn, key: editor) -> dict[str, Any]:
        """Record an approval (what a channel with `require: [approval]` needs)."""
        rec = store.get_release(feature, ref)
        approve(store, actor=key.name, feature=feature, release_id=rec.release_id,
                reason=body.reason)
        return {"release_id": rec.release_id, "approved_by": key.name}

    r.include_router(_channel_routes(admin))
    return r


def _release_json(rec: Any) -> dict[str, Any]:
    out = _jsonable(rec)
    out.pop("canonical", None)
    return out


def _channel_routes(admin: Admin) -> APIRouter:
    r = APIRouter(prefix="/{feature}/channels")
    viewer = Annotated[AdminKey, Depends(admin.auth(Role.VIEWER))]
    editor = Annotated[AdminKey, Depends(admin.auth(Role.EDITOR))]
    store = admin.store

    @r.get("")
    def channels(feature: str, key: viewer) -> dict[str, Any]:
        return {"channels": [_jsonable(c) for c in store.list_channels(feature)]}

    @r.get("/{channel}")
    def channel(feature: str, channel: str, key: viewer) -> JSONResponse:
        state = store.get_channel(feature, channel)
        if state is None:
            raise RefError(f"unknown channel {channel!r} of feature {feature!r}")
        return JSONResponse(_jsonable(state), headers={"etag": etag(state.version)})

    @r.put("/{channel}")
    def set_channel(
        feature: str, channel: str, body: ChannelIn, key: editor, if_match: IfMatch = None
    ) -> JSONResponse:
        require_reason(body.reason, f"moving channel {channel} of {feature}")  # before all else
        if body.skip_gate:
            require(key, Role.ADMIN)
        expected = parse_if_match(if_match)
        _check_version(store, feature, channel, expected)  # a stale ETag is 409 before all else
        rec = store.get_release(feature, body.release)
        project = admin.project
        if project is not None:  # a release published before the model became unroutable
            check_release(project, Release.from_canonical(rec.canonical))
        allowed = guard_move(store, project, feature, channel, rec.release_id,
                             body.reason if body.skip_gate else None)
        state = store.set_channel(
            feature,
            channel,
            rec.release_id,
            actor=key.name,
            reason=body.reason,
            expected_version=expected,
        )
        if allowed.get("skipped"):
            record_override(store, actor=key.name, feature=feature, channel=channel,
                            release_id=rec.release_id, reason=body.reason)
        return _moved(store, state)

    @r.post("/{channel}/rollback")
    def rollback(
        feature: str, channel: str, body: RollbackIn, key: editor, if_match: IfMatch = None
    ) -> JSONResponse:
        state = store.rollback(
            feature, channel, actor=key.name, reason=body.reason,
            expected_version=parse_if_match(if_match),
        )
        return _moved(store, state)

    @r.get("/{channel}/history")
    def history(
        feature: str,
        channel: str,
        key: viewer,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        moves = store.channel_history(feature, channel, limit=limit)
        return {"moves": [_jsonable(m) for m in moves]}

    return r


def _check_version(store: Store, feature: str, channel: str, expected: int | None) -> None:
    """Refuse a stale If-Match early; the move itself checks again inside its transaction."""
    if expected is None:
        return
    state = store.get_channel(feature, channel)
    current = 0 if state is None else state.version
    if current != expected:
        raise ConflictError(
            f"channel {channel} of {feature} is at version {current}, not {expected}: "
            "someone moved it since you read it"
        )


def _moved(store: Store, state: ChannelState) -> JSONResponse:
    """A channel after a move, with the release it served just before that very move."""
    move = store.channel_move(state.feature, state.channel, state.version)
    previous = None if move is None else move.from_release
    return JSONResponse({**_jsonable(state), "previous_release_id": previous},
                        headers={"etag": etag(state.version)})


def _definition_routes(admin: Admin, kind: Kind) -> APIRouter:
    plural = f"{kind}s"
    r = APIRouter(prefix=f"/{plural}", tags=[plural])
    viewer = Annotated[AdminKey, Depends(admin.auth(Role.VIEWER))]
    editor = Annotated[AdminKey, Depends(admin.auth(Role.EDITOR))]
    flags = admin.flags

    @r.get("", name=f"list_{plural}")
    def listing(key: viewer) -> dict[str, Any]:
        return {plural: [rec.to_json() for rec in flags.list(kind)]}

    @r.get("/{key:path}", name=f"get_{kind}")
    def get(key: str, caller: viewer) -> JSONResponse:
        rec = flags.get(kind, key)
        if rec is None:
            raise RefError(f"no {kind} '{key}'")
        return JSONResponse(rec.to_json(), headers={"etag": etag(rec.version)})

    @r.put("/{key:path}", name=f"put_{kind}")
    def put(key: str, body: DefinitionIn, caller: editor, if_match: IfMatch = None) -> JSONResponse:
        if body.skip_gate:
            require(caller, Role.ADMIN)
        rec = flags.put(
            kind,
            key,
            body.definition,
            actor=caller.name,
            reason=body.reason,
            expected_version=parse_if_match(if_match),
            skip_gate=body.skip_gate,
        )
        status = 201 if rec.version == 1 else 200
        return JSONResponse(rec.to_json(), status_code=status, headers={"etag": etag(rec.version)})

    @r.delete("/{key:path}", name=f"delete_{kind}")
    def delete(
        key: str, caller: editor, reason: str = "", if_match: IfMatch = None
    ) -> dict[str, Any]:
        rec = flags.delete(
            kind, key, actor=caller.name, reason=reason, expected_version=parse_if_match(if_match)
        )
        return {"deleted": rec.to_json()}

    return r


def _push_route(admin: Admin) -> APIRouter:
    r = APIRouter(tags=["flags"])
    editor = Annotated[AdminKey, Depends(admin.auth(Role.EDITOR))]

    @r.post("/flag-files")
    def push(body: PushIn, key: editor) -> dict[str, Any]:
        """Make stored flags match the repo's flag files, all or nothing (409 on API edits)."""
        if body.skip_gate:
            require(key, Role.ADMIN)
        items: dict[tuple[Kind, str], tuple[dict[str, Any], str]] = {}
        for d in body.definitions:
            if (d.kind, d.key) in items:
                raise ConfigError(f"duplicate {d.kind} '{d.key}' in the pushed files")
            items[(d.kind, d.key)] = (plain_json(d.definition, f"{d.kind} '{d.key}'"), d.file)
        report = admin.flags.push(
            FileDefinitions(items), actor=key.name, reason=body.reason, force=body.force,
            dry_run=body.dry_run, skip_gate=body.skip_gate,
        )
        return report.to_json()

    return r


def _key_routes(admin: Admin) -> APIRouter:
    r = APIRouter(tags=["keys"])
    root = Annotated[AdminKey, Depends(admin.auth(Role.ADMIN))]
    store = admin.store

    @r.get("/keys")
    def keys(key: root) -> dict[str, Any]:
        return {"keys": [k.to_json() for k in list_admin_keys(store)]}

    @r.post("/keys", status_code=201)
    def create(body: KeyIn, key: root) -> dict[str, Any]:
        created, plaintext = create_admin_key(
            store, body.name, body.role, actor=key.name, reason=body.reason
        )
        return {**created.to_json(), "key": plaintext}

    @r.delete("/keys/{name}")
    def revoke(name: str, key: root, reason: str = "") -> dict[str, Any]:
        return {"revoked": revoke_admin_key(store, name, actor=key.name, reason=reason).to_json()}

    @r.get("/app-keys")
    def app_key_list(key: root) -> dict[str, Any]:
        return {"keys": [k.to_json() for k in app_keys.list_keys(store)]}

    @r.post("/app-keys", status_code=201)
    def app_key_create(body: AppKeyIn, key: root) -> dict[str, Any]:
        created, plaintext = app_keys.create_key(
            store, body.name, features=body.features, actor=key.name, reason=body.reason
        )
        return {**created.to_json(), "key": plaintext}

    @r.delete("/app-keys/{name}")
    def app_key_revoke(name: str, key: root, reason: str = "") -> dict[str, Any]:
        app_keys.revoke_key(store, name, actor=key.name, reason=reason)
        return {"revoked": name}

    return r


def _webhooks(project: Project | None) -> list[Webhook]:
    if project is None:
        return []
    return settings_from(project.config.rollouts, str(project.config_path)).webhooks


def swagger_ui_dir() -> Path:
    """Swagger UI's files as the `swagger-ui-py` package ships them (found without importing
    it: only its static folder is used)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the swagger-ui-py package is missing: reinstall rampway")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _docs_routes(api: FastAPI) -> None:
    """Swagger UI at `/api/v1/docs`, its scripts and styles from the installed package, so the
    page works on a machine without internet (FastAPI's default loads them from a CDN)."""
    static = f"{PREFIX}/docs/static"
    api.mount(static, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui")

    @api.get(f"{PREFIX}/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{PREFIX}/openapi.json", title="rampway admin API",
            swagger_js_url=f"{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon-32x32.png",
        )


def create_admin_app(
    store: Store, *, project: Project | ProjectSource | None = None,
    notifier: Notifier | None = None, events: "ClickHouseEvents | None" = None,
) -> FastAPI:
    """The admin API as an ASGI app whose routes carry the full `/api/v1` prefix (mount it
    without stripping the path). With `project`, published releases are checked against it
    and rollouts use its `rollouts/<feature>.yaml` plans and webhooks; `notifier` (the
    gateway's, closed with it) announces rollout transitions made through the API. A source
    for `project` (a callable) is read at every request: the gateway passes its live config;
    `events`: the gateway's event log in ClickHouse, which rollout looks read when set."""
    api = FastAPI(
        title="rampway admin API",
        version="1",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # served by `_docs_routes` from packaged assets, not a CDN
        redoc_url=None,
    )
    _docs_routes(api)
    admin = Admin(store, project, notifier, events)
    _install_errors(api)
    api.add_middleware(CleanInput)  # NUL, lone surrogates: 400 before any route or the store
    for router in (
        _meta_routes(admin),
        _feature_routes(admin),
        _definition_routes(admin, "flag"),
        _definition_routes(admin, "segment"),
        _push_route(admin),
        _key_routes(admin),
        rollout_routes(admin.rollouts(), admin.auth, parse_if_match),
        experiment_routes(ExperimentRoutes(store, admin.root, project), admin.auth,
                          parse_if_match),
        shadow_routes(ShadowRoutes(store, project), admin.auth, parse_if_match),
    ):
        api.include_router(router, prefix=PREFIX)
    return api


__all__ = ["PREFIX", "create_admin_app", "error_body", "etag", "parse_if_match"]
