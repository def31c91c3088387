"""The gateway's ASGI application: OpenAI- and Anthropic-compatible endpoints over the pipeline.

    POST /v1/chat/completions   OpenAI Chat Completions (stream and non-stream)
    POST /v1/responses          OpenAI Responses (stream and non-stream; function tools,
                                structured output)
    POST /v1/messages           Anthropic Messages (stream and non-stream; `request-id` header)
    GET  /v1/models             the features, as models
    GET  /v1/models/{id}        one feature (404 if unknown or not allowed for the app key)
    POST /v1/feedback           outcome events
    GET  /metrics /healthz /readyz
    /api/v1/…                   the admin API (`rampway.admin`, its own keys with roles)
    /ui/…                       the web dashboard (`rampway.dashboard`, the admin keys too)
    /ofrep/v1/…                 OpenFeature remote evaluation (`rampway.openfeature.ofrep`)

The middleware stack is built in one place (`build_stack`), error handling outermost: every
error raised before the response started becomes a JSON error body (OpenAI shape; Anthropic shape
on /v1/messages) with its 4xx/5xx status and `x-should-retry: false` — the gateway has already
retried upstream, so SDKs must not multiply the retries.

Example:
    app = GatewayApp(Runtime.from_project(load_project()))
    uvicorn.run(app, port=8787)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol
from urllib.parse import unquote

from rampway.errors import Overloaded, RampwayError, RefError, ServingError
from rampway.gateway import _anthropic, _openai, _responses
from rampway.gateway._common import FEATURE_PREFIX
from rampway.gateway._http import (
    SSE_HEADERS,
    ASGIApp,
    Headers,
    Message,
    Receive,
    Scope,
    Send,
    dumps,
    headers_of,
    parse_json,
    read_body,
    send_bytes,
    send_json,
    state,
)
from rampway.gateway.call import CallInput, CallRecord
from rampway.gateway.feedback import parse_feedback
from rampway.gateway.keys import KeyRing
from rampway.gateway.metrics import CONTENT_TYPE
from rampway.gateway.pipeline import CallStream
from rampway.gateway.runtime import Runtime
from rampway.gateway.uiport import DashboardPort
from rampway.providers.types import StreamChunk

log = logging.getLogger("rampway.gateway")

Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]
NO_RETRY = (b"x-should-retry", b"false")
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ADMIN_PREFIX = "/api/v1/"  # authenticated by the admin app itself (admin keys, not app keys)
DASHBOARD_PREFIX = "/ui"  # the dashboard signs in with admin keys too
OWN_AUTH = (ADMIN_PREFIX, DASHBOARD_PREFIX)
MODEL_PATH = "/v1/models/"


def result_headers(record: CallRecord) -> Headers:
    headers: Headers = [(b"x-request-id", record.call.request_id.encode())]
    if record.call.protocol == "anthropic":  # what anthropic clients read (`_request_id`)
        headers.append((b"request-id", record.call.request_id.encode()))
    res = record.resolution
    if res is not None:
        headers.append((b"x-rampway-release", res.release.id.encode()))
        headers.append((b"x-rampway-arm", res.arm.encode()))
        if res.overrides is not None and res.overrides.model_flag:
            headers.append((b"x-rampway-override", res.overrides.model_flag.encode()))
    if record.provider and record.model:  # what answered, which may not be the release's model
        headers.append((b"x-rampway-model", f"{record.provider}/{record.model}".encode()))
    return headers


def _model_json(name: str, entry: Any) -> dict[str, Any]:
    """A feature as an OpenAI model object (with the release production serves)."""
    release = entry.channels.get("production")
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "rampway",
        "release": None if release is None else release.id,
        "mode": None if release is None else entry.mode_for(release),
    }


# -- middleware -----------------------------------------------------------------------------------


class ErrorMiddleware:
    """Outermost layer: turns any exception into a JSON error response (never a crash)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except RampwayError as exc:
            if started:
                log.warning("error after the response started: %s", exc)
                return
            await send_error(scope, send, exc)
        except Exception:  # noqa: BLE001 - last line of defence: answer, log, keep serving
            log.exception("unhandled error serving %s %s", scope["method"], scope["path"])
            if not started:
                await send_error(scope, send, ServingError("internal error in the gateway"))


class AuthMiddleware:
    """App keys on /v1/*: when keys exist, a valid one is required; the key is kept in state."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in OPEN_PATHS and not path.startswith(OWN_AUTH):
            keys = self.runtime.watcher.snapshot.keys
            if keys.required:
                headers = headers_of(scope)
                key = keys.authenticate(headers.get("authorization"), headers.get("x-api-key"))
                state(scope)["app_key"] = key
        await self.app(scope, receive, send)


async def send_error(scope: Scope, send: Send, exc: RampwayError) -> None:
    st = state(scope)
    headers: Headers = [NO_RETRY]
    for name in ("request_id", "release", "arm"):
        value = st.get(name)
        if value:
            header = "x-request-id" if name == "request_id" else f"x-rampway-{name}"
            headers.append((header.encode(), str(value).encode()))
    anthropic = scope.get("path") == "/v1/messages"
    if anthropic and st.get("request_id"):
        headers.append((b"request-id", str(st["request_id"]).encode()))
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    wire = _anthropic if anthropic else _openai
    await send_json(send, exc.http_status, wire.error_json(exc), headers)


# -- the application ------------------------------------------------------------------------------


class GatewayApp:
    """ASGI entry point: lifespan starts/stops the runtime; HTTP goes through the stack."""

    def __init__(self, runtime: Runtime, *, ui_port: int | None = None) -> None:
        self.runtime = runtime
        self.endpoints = Endpoints(runtime, mounts(runtime))
        # with `ui_port`, the dashboard answers only there (`rampway serve --ui-port`)
        self._stack = build_stack(self.endpoints, runtime, ui_port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._stack(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self._warm_dashboard()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


    def _warm_dashboard(self) -> None:
        """The dashboard's analyses computed in the background now, not at their first view."""
        from rampway.dashboard.app import warm_in_background

        warm_in_background(self.endpoints.mounts[DASHBOARD_PREFIX])


def build_stack(endpoints: Endpoints, runtime: Runtime, ui_port: int | None = None) -> ASGIApp:
    """The one place the middleware order is decided: (dashboard port ▸) errors ▸ auth ▸
    routing."""
    app: ASGIApp = endpoints
    app = AuthMiddleware(app, runtime)
    app = ErrorMiddleware(app)
    return app if ui_port is None else DashboardPort(app, ui_port)


def mounts(runtime: Runtime) -> dict[str, ASGIApp]:
    """Sub-applications served under a path prefix (their routes keep the full path)."""
    # Imported here: both build on rampway.gateway, which imports this module.
    from rampway.admin.app import create_admin_app
    from rampway.dashboard import create_dashboard_app
    from rampway.openfeature.ofrep import OfrepEndpoints

    return {
        # the live project: writes are validated against rampway.yaml as last reloaded
        ADMIN_PREFIX: create_admin_app(runtime.store, project=runtime.live_project,
                                       notifier=runtime.notifier, events=runtime.events),
        DASHBOARD_PREFIX: create_dashboard_app(runtime.store, project=runtime.live_project,
                                               notifier=runtime.notifier,
                                               events=runtime.events),
        "/ofrep/v1/": OfrepEndpoints(runtime.watcher, runtime.settings.max_body_bytes),
    }


class Endpoints:
    """Routing by (method, path) and the endpoint handlers; prefixes go to `mounts`."""

    def __init__(self, runtime: Runtime, mounts: Mapping[str, ASGIApp] | None = None) -> None:
        self.runtime = runtime
        self.mounts = dict(mounts or {})
        self.pipeline = runtime.pipeline
        self.limit = runtime.settings.max_body_bytes
        self.routes: dict[tuple[str, str], Endpoint] = {
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/chat/completions"): self.chat_completions,
            ("POST", "/v1/messages"): self.messages,
            ("POST", "/v1/responses"): self.responses,
            ("POST", "/responses"): self.responses,
            ("GET", "/v1/models"): self.models,
            ("POST", "/v1/feedback"): self.feedback,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/healthz"): self.healthz,
            ("GET", "/readyz"): self.readyz,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.routes.get((scope["method"], scope["path"]))
        if endpoint is None and scope["method"] == "GET" and scope["path"].startswith(MODEL_PATH):
            endpoint = self.model
        if endpoint is None:
            for prefix, app in self.mounts.items():
                if scope["path"].startswith(prefix):
                    await app(scope, receive, send)
                    return
            raise RefError(f"no endpoint {scope['method']} {scope['path']}")
        await endpoint(scope, receive, send)

    async def _body(self, scope: Scope, receive: Receive) -> Any:
        return parse_json(await read_body(scope, receive, self.limit))

    async def _parse(self, scope: Scope, receive: Receive, wire: Any) -> CallInput:
        """Read and validate a model-call body; refusals are reported to the hooks (metrics)."""
        try:
            parsed: CallInput = wire.parse_request(await self._body(scope, receive),
                                                   headers_of(scope))
        except RampwayError as exc:
            self.pipeline.hooks.on_rejected(None, exc)
            raise
        return parsed

    # -- model calls --------------------------------------------------------------------------

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = await self._parse(scope, receive, _openai)
        record = self._prepare(scope, call)
        work = self._stream_openai if call.stream else self._complete_openai
        await until_disconnect(lambda out: work(record, out), receive, send)

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = await self._parse(scope, receive, _anthropic)
        record = self._prepare(scope, call)
        work = self._stream_anthropic if call.stream else self._complete_anthropic
        await until_disconnect(lambda out: work(record, out), receive, send)

    async def responses(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = await self._parse(scope, receive, _responses)
        record = self._prepare(scope, call)
        work = self._stream_responses if call.stream else self._complete_responses
        await until_disconnect(lambda out: work(record, out), receive, send)

    def _prepare(self, scope: Scope, call: CallInput) -> CallRecord:
        st = state(scope)
        st["request_id"] = call.request_id
        key = st.get("app_key")
        try:
            KeyRing.authorize(key, call.feature)
        except RampwayError as exc:
            self.pipeline.hooks.on_rejected(call, exc)
            raise
        call.app_key = None if key is None else key.name
        record = self.pipeline.prepare(call)
        if record.resolution is not None:
            st["release"] = record.resolution.release.id
            st["arm"] = record.resolution.arm
        return record

    async def _complete_openai(self, record: CallRecord, send: Send) -> None:
        record, response = await self.pipeline.run_complete(record)
        await send_json(
            send, 200, _openai.render_response(record, response), result_headers(record)
        )

    async def _complete_anthropic(self, record: CallRecord, send: Send) -> None:
        record, response = await self.pipeline.run_complete(record)
        await send_json(
            send, 200, _anthropic.render_response(record, response), result_headers(record)
        )

    async def _complete_responses(self, record: CallRecord, send: Send) -> None:
        record, response = await self.pipeline.run_complete(record)
        await send_json(
            send, 200, _responses.render_response(record, response), result_headers(record)
        )

    async def _stream_openai(self, record: CallRecord, send: Send) -> None:
        stream = self.pipeline.stream_prepared(record)
        first = await _first(stream)  # errors here still get a proper status code
        model = (first.model if first else None) or _req_model(record)
        enc = _openai.StreamEncoder(record, model, record.call.include_usage)
        await _relay(record, stream, first, enc, b"", _openai, send)

    async def _stream_anthropic(self, record: CallRecord, send: Send) -> None:
        stream = self.pipeline.stream_prepared(record)
        first = await _first(stream)
        model = (first.model if first else None) or _req_model(record)
        enc = _anthropic.StreamEncoder(record)
        await _relay(record, stream, first, enc, enc.start(model), _anthropic, send)

    async def _stream_responses(self, record: CallRecord, send: Send) -> None:
        stream = self.pipeline.stream_prepared(record)
        first = await _first(stream)
        model = (first.model if first else None) or _req_model(record)
        enc = _responses.StreamEncoder(record)  # it is also the wire: its own error event
        await _relay(record, stream, first, enc, enc.start(model), enc, send)

    # -- everything else ----------------------------------------------------------------------

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = state(scope).get("app_key")
        features = self.runtime.watcher.snapshot.features
        data = [_model_json(name, features[name]) for name in sorted(features)
                if key is None or key.allows(name)]
        await send_json(send, 200, {"object": "list", "data": data})

    async def model(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /v1/models/{id}` (the OpenAI clients' `models.retrieve`); 404 for a feature
        that does not exist or the app key may not call."""
        name = unquote(scope["path"][len(MODEL_PATH):])
        name = name.removeprefix(FEATURE_PREFIX)
        key = state(scope).get("app_key")
        entry = self.runtime.watcher.snapshot.features.get(name)
        if entry is None or (key is not None and not key.allows(name)):
            raise RefError(f"The model '{name}' does not exist")
        await send_json(send, 200, _model_json(name, entry))

    async def feedback(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = parse_feedback(await self._body(scope, receive))
        key = state(scope).get("app_key")
        if event.feature is not None:
            KeyRing.authorize(key, event.feature)
        if not self.runtime.writer.emit(event):
            raise Overloaded("event queue is full; retry the feedback later")
        await send_json(send, 202, {"id": event.id, "object": "feedback", "accepted": True})

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.runtime.metrics.render()
        await send_bytes(send, 200, body, [(b"content-type", CONTENT_TYPE.encode())])

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        """200 once the first snapshot is loaded, 503 before. "degraded" (still 200) lists in
        `unroutable` what rampway.yaml as it is now cannot route: this process may still
        serve it on the router it started with, and taking every pod out of the Service for
        one feature's broken config would turn a partial outage into a total one — so
        readiness stays, and the body says what will fail (alert on `status`)."""
        rt = self.runtime
        ready = rt.ready
        broken = rt.watcher.unroutable
        body: dict[str, Any] = {
            "status": "starting" if not ready else "degraded" if broken else "ready",
            "control_version": rt.watcher.snapshot.version,
            "features": len(rt.watcher.snapshot.features),
            "events": events_status(rt),
        }
        messages = []
        if rt.watcher.restart_needed:  # still serving, on the settings it started with
            sections = ", ".join(rt.watcher.restart_needed)
            body["restart_needed"] = list(rt.watcher.restart_needed)
            messages.append(f"rampway.yaml: {sections} changed since this gateway started; "
                            "restart it to apply them")
        if broken:
            body["unroutable"] = [u.to_json() for u in broken]
            messages.append(f"rampway.yaml as it is now cannot route {len(broken)} "
                            "reference(s) in use (see `unroutable`; `rampway doctor` too): "
                            "requests for them fail once the config applies")
        if messages:
            body["message"] = "; ".join(messages)
        await send_json(send, 200 if ready else 503, body)


def events_status(rt: Runtime) -> dict[str, Any]:
    """The event log's health for /readyz: queue depth and every loss, by reason."""
    stats = rt.writer.stats
    dead = rt.writer.dead_letter
    return {
        "queued": rt.writer.queued,
        "written": stats.written,
        "dropped": stats.dropped,
        "dropped_by_reason": dict(stats.dropped_by),
        "dead_letter": None if dead is None else str(getattr(dead, "path", dead)),
    }


class _Encoder(Protocol):
    def chunk(self, chunk: StreamChunk) -> bytes: ...

    def end(self, record: CallRecord) -> bytes: ...


async def _relay(
    record: CallRecord,
    stream: CallStream,
    first: StreamChunk | None,
    enc: _Encoder,
    head: bytes,
    wire: Any,
    send: Send,
) -> None:
    """Send a started stream as SSE. Once the 200 is out an error can only be an event in the
    stream itself: the wire's own error event (OpenAI `data: {"error": …}`, Anthropic
    `event: error`), for unexpected failures too, so a client never just sees the body end."""
    await _start_sse(send, record)
    try:
        await _send_chunk(send, head)
        if first is not None:
            await _send_chunk(send, enc.chunk(first))
        async for chunk in stream:
            await _send_chunk(send, enc.chunk(chunk))
        await _send_chunk(send, enc.end(record), more=False)
    except RampwayError as exc:
        await _send_chunk(send, wire.stream_error(exc), more=False)
    except Exception:  # noqa: BLE001 - the response started: end it with an error event
        log.exception("unhandled error while streaming %s", record.call.request_id)
        error = ServingError("internal error in the gateway")
        await _send_chunk(send, wire.stream_error(error), more=False)
    finally:
        await stream.aclose()


async def until_disconnect(
    work: Callable[[Send], Awaitable[None]], receive: Receive, send: Send
) -> None:
    """Run `work(send)`; if the client disconnects before the response is complete, cancel it.

    The ASGI server silently drops what is sent to a closed connection, so without this a
    call would keep the upstream request running (and paid for) to the end — a stream, or a
    long non-streaming completion whose client timed out. Cancelling `work`
    cancels the provider call where it waits; the pipeline records the request as
    `client_closed` (499). Errors raised before the response started propagate as usual.
    """
    complete = False

    async def sending(message: Message) -> None:
        nonlocal complete
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            complete = True

    task = asyncio.ensure_future(work(sending))
    gone = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and not complete:
            task.cancel()
            await asyncio.wait((task,))
            if task.cancelled():
                return
        await task
    finally:
        gone.cancel()
        if not task.done():  # we are being cancelled ourselves: take the work with us
            task.cancel()


async def _disconnect(receive: Receive) -> None:
    """Wait for `http.disconnect` (the request body has already been read in full)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _first(stream: Any) -> StreamChunk | None:
    try:
        chunk: StreamChunk = await stream.__anext__()
    except StopAsyncIteration:
        return None
    return chunk


def _req_model(record: CallRecord) -> str:
    return record.request.model if record.request is not None else ""


async def _start_sse(send: Send, record: CallRecord) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, *result_headers(record)],
        }
    )


async def _send_chunk(send: Send, data: bytes, more: bool = True) -> None:
    if data or not more:
        await send({"type": "http.response.body", "body": data, "more_body": more})


def create_app(runtime: Runtime) -> GatewayApp:
    return GatewayApp(runtime)


__all__ = [
    "AuthMiddleware",
    "ErrorMiddleware",
    "GatewayApp",
    "build_stack",
    "create_app",
    "dumps",
    "until_disconnect",
]
