"""The dashboard's ASGI app under `/ui` (Starlette, Jinja2 pages rendered on the server).

    GET  /ui/                                   overview: every feature, in flight, health
    GET  /ui/features/{feature}[?a=&b=]         channels, rollouts, gates, the timeline, a diff
    GET  /ui/rollouts/{feature}[/{id}]          steps, weight over time, guardrails per look
    POST /ui/rollouts/{feature}/{command}       pause | resume | approve | promote | rollback
    …                                           gate, experiment, shadow, flags, requests,
                                                audit pages (`rampway.dashboard.pages`)
    GET  /ui/login   POST /ui/login   POST /ui/logout
    GET  /ui/static/…                           CSS, JS and the vendored chart library

Auth is the admin API's: a key entered once on the login page is kept in an HttpOnly,
SameSite=Strict cookie (`rampway.dashboard.session`) and looked up on every request, so a
revoked key is logged out at once. Viewers read; commands need an editor key, a reason, the
form's CSRF token and a same-origin POST, and go through the same `Controller.command` as the
CLI and the admin API (same state rules, same audit rows, the key's name as actor). No key
sees only the login page. Every asset is served from the package: the pages load nothing from
anywhere else (and the Content-Security-Policy says so to the browser).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rampway._reason import ON_A_PAGE, require_reason
from rampway.admin._rollouts import RolloutRoutes
from rampway.admin.keys import AdminKey, Role, authenticate
from rampway.config import Project, ProjectSource, project_source
from rampway.dashboard import pages, session, views
from rampway.dashboard.cache import AnalysisCache
from rampway.dashboard.forms import parse_form, read_body
from rampway.dashboard.gate_view import interval_text, rule_text
from rampway.errors import (
    AuthenticationError,
    PermissionDenied,
    RampwayError,
    RefError,
    RequestError,
)
from rampway.flags.store import FlagStore
from rampway.gateway._common import find_unclean
from rampway.rollout import Notifier, RolloutRecord
from rampway.rollout.plan import settings_from
from rampway.rollout.state import COMMANDS

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents

log = logging.getLogger("rampway.dashboard")

PREFIX = "/ui"
#: How often a live page reloads itself (base.html's data-refresh), in seconds.
REFRESH_S = 10
_HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class Dashboard:
    """What every page needs: the store, the rollout commands (the admin API's), templates."""

    def __init__(self, store: Any, project: Project | ProjectSource | None,
                 notifier: Notifier | None, events: ClickHouseEvents | None = None) -> None:
        self.store = store
        self.events = events  # the event log, when in ClickHouse (the gateway's store)
        self.prefix = PREFIX
        source = project_source(project)  # the gateway's: rampway.yaml as last reloaded
        served = source()
        root = None if served is None else served.root
        webhooks = [] if served is None else settings_from(
            served.config.rollouts, str(served.config_path)).webhooks
        live = None if project is None or isinstance(project, Project) else project
        self.rollouts = RolloutRoutes(store, notifier or Notifier(webhooks), root, live, events)
        # The admin API's flag writes: with the project, model values must be routable.
        self.flags = FlagStore(store, project=source)
        # experiment analyses and shadow reports, as fresh as the pages' auto-refresh
        self.analyses = AnalysisCache(ttl=REFRESH_S)
        self.env = templates()

    def warm(self) -> None:
        """Compute the analysis of every running experiment and live shadow into the cache,
        so that their pages' first views after a start are served from it instead of waiting
        for it (seconds at a million events). Run by `warm_in_background` when the server
        starts; one that fails is logged and left to its first view, as before. The overview
        is read once too (and dropped): the first view after a start otherwise also pays the
        lazy imports and the compilation of its dozen statements (100-300 ms on a busy
        machine)."""
        from rampway.dashboard.experiment_view import cached_experiment_page
        from rampway.dashboard.shadow_view import shadow_page
        from rampway.experiments import repo as experiments
        from rampway.shadow import repo as shadows

        _logged(functools.partial(views.overview, self.store, now=time.time(),
                                  events=self.events), "the overview")
        for record in experiments.list_running(self.store):
            _logged(functools.partial(cached_experiment_page, self.store, record,
                                      self.analyses, self.events), f"experiment {record.name}")
        for shadow in shadows.list_running(self.store):
            _logged(functools.partial(shadow_page, self.store, shadow.name, now=time.time(),
                                      cache=self.analyses), f"shadow {shadow.name}")

    # -- responses ---------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(prefix=PREFIX, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def error_page(self, status: int, message: str, user: AdminKey | None = None) -> HTMLResponse:
        return self.render("error.html", status, code=status, message=message, user=user,
                           csrf="")

    # -- sessions ----------------------------------------------------------------------------

    def session(self, request: Request) -> tuple[AdminKey, str] | None:
        """The signed-in key and its plaintext, or None (no cookie, unknown or revoked key)."""
        raw = request.cookies.get(session.COOKIE)
        if not raw:
            return None
        try:
            return authenticate(self.store, raw), raw
        except AuthenticationError:
            return None

    def page(self, request: Request, render: Callable[[AdminKey, str], Response]) -> Response:
        """A viewer page: the login page first when there is no valid session. Its reads share
        one connection and transaction (`Store.shared_reads`: a page is a dozen small reads)."""
        with self.store.shared_reads():
            return self._page(request, render)

    def _page(self, request: Request, render: Callable[[AdminKey, str], Response]) -> Response:
        found = self.session(request)
        if found is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", 303)
        key, raw = found
        try:
            _check_path(request)
            return render(key, raw)
        except RampwayError as exc:
            return self.error_page(exc.http_status, exc.message, key)

    def context(self, key: AdminKey, raw: str) -> dict[str, Any]:
        return {"user": key, "csrf": session.csrf_token(raw),
                "can_edit": key.role.allows(Role.EDITOR), "now": datetime.now(UTC)}

    @staticmethod
    def check_path(request: Request) -> None:
        _check_path(request)

    @staticmethod
    def version(text: str | None) -> int | None:
        """The object version a form carries (the page's), for the optimistic check."""
        return _version(text)

    async def posted(self, request: Request, role: Role) -> tuple[AdminKey, dict[str, str]]:
        """An acting POST's key and form: signed in (401), same origin and CSRF token (403),
        role (403), a well-formed small form (400) — in that order, nothing done before."""
        found = await run_in_threadpool(self.session, request)
        if found is None:
            raise AuthenticationError("sign in first: your session has ended or its key was "
                                      "revoked")
        key, raw = found
        headers = request.headers
        if not session.same_origin(headers.get("host"), headers.get("origin"),
                                   headers.get("referer")):
            raise PermissionDenied("refused: the form was posted from another site")
        form = parse_form(await read_body(request.stream()), headers.get("content-type"))
        if not session.csrf_ok(raw, form.get("csrf")):
            raise PermissionDenied("refused: the form's CSRF token is missing or wrong; "
                                   "reload the page and try again")
        if not key.role.allows(role):
            raise PermissionDenied(f"key {key.name!r} has role {key.role.value}; this needs "
                                   f"{role.value} or above")
        return key, form


# -- pages ----------------------------------------------------------------------------------


def _page_routes(d: Dashboard) -> list[Route]:
    def overview(request: Request) -> Response:
        def render(key: AdminKey, raw: str) -> Response:
            rows = views.overview(d.store, now=time.time(), events=d.events)
            active = any(r["rollout"] or r["experiment"] or r["shadows"] for r in rows)
            return d.render("overview.html", features=rows, refresh=active,
                            **d.context(key, raw))
        return d.page(request, render)

    def feature(request: Request) -> Response:
        name = request.path_params["feature"]

        def render(key: AdminKey, raw: str) -> Response:
            data = views.feature_page(d.store, name, diff=_diff_refs(request))
            return d.render("feature.html", feature=data, refresh=False, **d.context(key, raw))
        return d.page(request, render)

    def rollout(request: Request) -> Response:
        name = request.path_params["feature"]
        wanted = request.path_params.get("rollout_id")

        def render(key: AdminKey, raw: str) -> Response:
            record = d.rollouts.latest(name) if wanted is None else d.rollouts.one(name, wanted)
            data = views.rollout_page(d.store, record, now=datetime.now(UTC))
            return d.render("rollout.html", page=data, r=record, refresh=record.status.active,
                            done=request.query_params.get("done"), **d.context(key, raw))
        return d.page(request, render)

    return [
        Route(f"{PREFIX}/", overview),
        Route(f"{PREFIX}/features/{{feature}}", feature),
        Route(f"{PREFIX}/rollouts/{{feature}}", rollout),
        Route(f"{PREFIX}/rollouts/{{feature}}/{{rollout_id:int}}", rollout),
    ]


def _command_route(d: Dashboard) -> Route:
    async def command(request: Request) -> Response:
        name = request.path_params["command"]
        feature = request.path_params["feature"]
        if name not in COMMANDS:
            raise RefError(f"no rollout command {name!r}")
        _check_path(request)
        key, form = await d.posted(request, Role.EDITOR)
        reason = require_reason(form.get("reason", "").strip(), f"rollout {name}",
                                hint=ON_A_PAGE)
        expected = _version(form.get("version"))
        done: RolloutRecord = await run_in_threadpool(
            d.rollouts.controller.command, feature, name, actor=key.name, reason=reason,
            expected_version=expected)
        return RedirectResponse(f"{PREFIX}/rollouts/{quote(feature)}/{done.id}?done={name}", 303)

    return Route(f"{PREFIX}/rollouts/{{feature}}/{{command}}", command, methods=["POST"])


def _session_routes(d: Dashboard) -> list[Route]:
    def login_form(request: Request) -> Response:
        if d.session(request) is not None:
            return RedirectResponse(session.safe_next(request.query_params.get("next")), 303)
        return d.render("login.html", user=None, csrf="", error=None,
                        next=session.safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        headers = request.headers
        if not session.same_origin(headers.get("host"), headers.get("origin"),
                                   headers.get("referer")):
            raise PermissionDenied("refused: the form was posted from another site")
        form = parse_form(await read_body(request.stream()), headers.get("content-type"))
        target = session.safe_next(form.get("next"))
        raw = form.get("key", "").strip()
        try:
            await run_in_threadpool(authenticate, d.store, raw)
        except AuthenticationError:
            return d.render("login.html", 401, user=None, csrf="", next=target,
                            error="That key is unknown or revoked.")
        response = RedirectResponse(target, 303)
        response.headers["set-cookie"] = session.cookie_header(raw, secure=_https(request))
        return response

    async def logout(request: Request) -> Response:
        await d.posted(request, Role.VIEWER)
        response = RedirectResponse(f"{PREFIX}/login", 303)
        response.headers["set-cookie"] = session.clear_cookie_header(secure=_https(request))
        return response

    def to_index(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", 307)

    return [
        Route(PREFIX, to_index),
        Route(f"{PREFIX}/login", login_form, methods=["GET"]),
        Route(f"{PREFIX}/login", login, methods=["POST"]),
        Route(f"{PREFIX}/logout", logout, methods=["POST"]),
    ]


def _routes(d: Dashboard) -> list[Route | Mount]:
    static = Mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="static")
    return [*_session_routes(d), *_page_routes(d), _command_route(d), *pages.routes(d), static]


def _logged(work: Callable[[], Any], what: str) -> None:
    try:
        work()
    except Exception:  # its first view computes it (and shows the error if it persists)
        log.exception("warming the dashboard's analysis of %s failed", what)


def warm_in_background(app: object) -> threading.Thread:
    """Start `Dashboard.warm` for `app` (`create_dashboard_app`'s) on a daemon thread: what
    the server does when it starts (the gateway's lifespan, or the dashboard's own when
    served alone)."""
    dashboard = getattr(getattr(app, "state", None), "dashboard", None)
    if not isinstance(dashboard, Dashboard):
        raise TypeError("warm_in_background takes an app made by create_dashboard_app")
    thread = threading.Thread(target=dashboard.warm, name="rampway-dashboard-warm",
                              daemon=True)
    thread.start()
    return thread


def _check_path(request: Request) -> None:
    """A path value the store cannot hold (NUL, a lone surrogate) is a 400, not a database
    error: the admin API's `CleanInput` does the same for its routes."""
    problem = find_unclean(dict(request.path_params))
    if problem is not None:
        raise RequestError(f"{problem[0]}: {problem[1]}", param=problem[0])


def _diff_refs(request: Request) -> tuple[str, str] | None:
    """The two releases `?a=&b=` asks the feature page to compare (400 on unusable text)."""
    a, b = (request.query_params.get(k, "").strip() for k in ("a", "b"))
    if not (a and b):
        return None
    problem = find_unclean({"a": a, "b": b})
    if problem is not None or len(a) > 300 or len(b) > 300:
        name = problem[0] if problem else "a" if len(a) > 300 else "b"
        raise RequestError(f"{name}: not a release reference", param=name)
    return a, b


def _version(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise RequestError("version must be the version the page showed", param="version")
    return int(text)


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def create_dashboard_app(
    store: Any, *, project: Project | ProjectSource | None = None,
    notifier: Notifier | None = None, events: ClickHouseEvents | None = None,
) -> Starlette:
    """The dashboard as an ASGI app whose routes carry the full `/ui` prefix (mount it without
    stripping the path, as the gateway does). `notifier` announces rollout transitions made
    from the pages, like the admin API's; `events`: the event log in ClickHouse, which the
    overview's health and the experiment pages read when the events go there."""
    d = Dashboard(store, project, notifier, events)

    async def rampway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RampwayError)
        return d.error_page(exc.http_status, exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return d.error_page(exc.status_code, message)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        warm_in_background(app)  # served on its own: warm at start, as the gateway does
        yield

    app = Starlette(routes=_routes(d), lifespan=lifespan, exception_handlers={
        RampwayError: rampway_error, HTTPException: http_error})
    app.state.dashboard = d
    return app


# -- templates ------------------------------------------------------------------------------


@functools.cache
def templates() -> jinja2.Environment:
    """The pages' templates, compiled once per process and shared by every dashboard (they
    depend on nothing but the package's files). Compiling all of them costs about 300 ms of
    CPU, 30-50 ms a page, which a page's first view would otherwise pay: a daemon thread
    compiles them when the environment is made, so a server's first views find them ready
    (a view that comes first compiles its own; Jinja's cache takes either)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
    )
    env.globals["refresh_s"] = REFRESH_S
    env.filters.update(pct=_pct, num=_num, when=_when, dur=_dur, at=_at,
                       interval=interval_text, rule=rule_text)
    threading.Thread(target=_compile_all, args=(env,), name="rampway-dashboard-templates",
                     daemon=True).start()
    return env


#: Compiled first: what a browser's first visit renders (the sign-in, then the overview).
_FIRST = ("base.html", "login.html", "overview.html")


def _compile_all(env: jinja2.Environment) -> None:
    rest = [n for n in env.list_templates(extensions=["html"]) if n not in _FIRST]
    for name in (*_FIRST, *rest):
        env.get_template(name)


# -- template filters -----------------------------------------------------------------------


def _pct(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float) or value != value:
        return "–"
    return f"{value * 100:.{digits}f}%"


def _num(value: Any, digits: int = 3) -> str:
    if not isinstance(value, int | float) or value != value:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _when(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _at(epoch: float) -> str:
    return _when(datetime.fromtimestamp(epoch, UTC))


def _dur(seconds: float) -> str:
    from rampway.experiments._duration import duration_text

    return duration_text(seconds) if seconds else "–"


__all__ = ["PREFIX", "SECURITY_HEADERS", "create_dashboard_app", "warm_in_background"]
