"""The dashboard's pages beyond overview, feature and rollout: one route builder per area.

    GET  /ui/gates/{feature}/{gate_id}              a recorded gate report
    GET  /ui/experiments/{name}[/{experiment_id}]   arms, exposure, SRM, lifts, decision
    GET  /ui/shadows/{name}                         flagged difference classes, exemplars
    GET  /ui/flags   POST /ui/flags/{feature}/switch   values, rules; the audited kill switch
    GET  /ui/requests?feature=&release=&arm=&status=   recent requests, explained
    GET  /ui/audit?object_type=&object_id=          the audit log

Each page is `Dashboard.page` (sign-in first, a `RampwayError` shown as its 4xx page) around a
view function that reads plain dicts (the `*_view` modules); the one acting route goes through
`Dashboard.posted` like the rollout commands.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from rampway._reason import ON_A_PAGE, require_reason
from rampway.admin.keys import AdminKey, Role
from rampway.dashboard.audit_view import audit_filters, audit_page
from rampway.dashboard.experiment_view import cached_experiment_page, find_experiment
from rampway.dashboard.flags_view import flags_page, switch
from rampway.dashboard.gate_view import gate_page
from rampway.dashboard.requests_view import Filters, requests_page
from rampway.dashboard.shadow_view import shadow_page
from rampway.errors import RequestError

if TYPE_CHECKING:
    from rampway.dashboard.app import Dashboard


def _gate_routes(d: Dashboard) -> list[Route]:
    def gate(request: Request) -> Response:
        feature = request.path_params["feature"]
        gate_id = request.path_params["gate_id"]

        def render(key: AdminKey, raw: str) -> Response:
            data = gate_page(d.store, feature, gate_id)
            return d.render("gate.html", g=data, refresh=False, **d.context(key, raw))
        return d.page(request, render)

    return [Route(f"{d.prefix}/gates/{{feature}}/{{gate_id:int}}", gate)]


def _experiment_routes(d: Dashboard) -> list[Route]:
    def experiment(request: Request) -> Response:
        name = request.path_params["name"]
        wanted = request.path_params.get("experiment_id")

        def render(key: AdminKey, raw: str) -> Response:
            record = find_experiment(d.store, name, wanted)
            data = cached_experiment_page(d.store, record, d.analyses, d.events)
            return d.render("experiment.html", e=data, refresh=record.running,
                            **d.context(key, raw))
        return d.page(request, render)

    return [Route(f"{d.prefix}/experiments/{{name}}", experiment),
            Route(f"{d.prefix}/experiments/{{name}}/{{experiment_id:int}}", experiment)]


def _shadow_routes(d: Dashboard) -> list[Route]:
    def shadow(request: Request) -> Response:
        name = request.path_params["name"]

        def render(key: AdminKey, raw: str) -> Response:
            data = shadow_page(d.store, name, now=time.time(), cache=d.analyses)
            live = data["status"]["state"] == "mirroring"
            return d.render("shadow.html", s=data, refresh=live, **d.context(key, raw))
        return d.page(request, render)

    return [Route(f"{d.prefix}/shadows/{{name}}", shadow)]


def _flag_routes(d: Dashboard) -> list[Route]:
    def flags(request: Request) -> Response:
        def render(key: AdminKey, raw: str) -> Response:
            data = flags_page(d.store, d.flags)
            return d.render("flags.html", page=data, refresh=False,
                            done=request.query_params.get("done"), **d.context(key, raw))
        return d.page(request, render)

    async def flip(request: Request) -> Response:
        """The kill switch: editor, CSRF, a reason and a ticked confirmation, then the same
        `FlagStore.put` as the admin API (its audit row names the key)."""
        feature = request.path_params["feature"]
        d.check_path(request)
        key, form = await d.posted(request, Role.EDITOR)
        state = form.get("state")
        if state not in ("on", "off"):
            raise RequestError("state must be 'on' or 'off'", param="state")
        if form.get("confirm") != "yes":
            raise RequestError("tick the confirmation: this turns the feature "
                               f"{state} for everyone", param="confirm")
        reason = require_reason(form.get("reason", "").strip(), f"turning {feature} {state}",
                                hint=ON_A_PAGE)
        version = d.version(form.get("version"))
        await run_in_threadpool(switch, d.flags, d.store, feature, on=state == "on",
                                actor=key.name, reason=reason, version=version)
        done = quote(f"{feature} turned {state}")
        return RedirectResponse(f"{d.prefix}/flags?done={done}", 303)

    return [Route(f"{d.prefix}/flags", flags),
            Route(f"{d.prefix}/flags/{{feature}}/switch", flip, methods=["POST"])]


def _request_routes(d: Dashboard) -> list[Route]:
    def requests(request: Request) -> Response:
        def render(key: AdminKey, raw: str) -> Response:
            filters = Filters.parse(request.query_params)
            data = requests_page(d.store, filters)
            return d.render("requests.html", page=data, refresh=False, **d.context(key, raw))
        return d.page(request, render)

    return [Route(f"{d.prefix}/requests", requests)]


def _audit_routes(d: Dashboard) -> list[Route]:
    def audit(request: Request) -> Response:
        def render(key: AdminKey, raw: str) -> Response:
            data = audit_page(d.store, audit_filters(request.query_params))
            return d.render("audit.html", page=data, refresh=False, **d.context(key, raw))
        return d.page(request, render)

    return [Route(f"{d.prefix}/audit", audit)]


def routes(d: Dashboard) -> list[Route]:
    return [*_gate_routes(d), *_experiment_routes(d), *_shadow_routes(d), *_flag_routes(d),
            *_request_routes(d), *_audit_routes(d)]


__all__ = ["routes"]
