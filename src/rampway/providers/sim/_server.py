"""The simulator over real HTTP: OpenAI Chat Completions and Anthropic Messages (Starlette).

Per request the work is: parse, plan (engine), then play the plan — wait `time_scale` × the
planned latency and write the body or the SSE stream — or play its fault:

* 429 → error body + `Retry-After` (seconds; fractional when below 1 s) and `retry-after-ms`
* 500 / 503 → error body (Anthropic wire: 500 api_error / 529 overloaded_error)
* hang → wait `hang_s` real seconds (not scaled), ending early when the client disconnects
* reset → abort the TCP connection with RST before any byte is sent
* mid-stream cut → send part of the stream (or of a non-streamed body) and close the connection
  without the end of the chunked body; clients see a protocol error, never a clean end.

Runtime control (for tests): `GET/POST /_sim/config` (JSON merge patch), `GET /_sim/stats`,
`POST /_sim/stats/reset`.

    with SimServer(time_scale=0) as srv:
        client = openai.OpenAI(base_url=srv.base_url + "/v1", api_key="x")
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from rampway.errors import ConfigError, ProviderError
from rampway.providers.sim import _anthropic_wire as anth
from rampway.providers.sim import _openai_wire as oai
from rampway.providers.sim._config import SimConfig, load_sim_config
from rampway.providers.sim._runtime import SimPlan, SimRuntime
from rampway.providers.sim._wire import WireError

_TRANSPORT = "rampway.sim.transport"
Wire = str  # "openai" | "anthropic"


class SimApp:
    """Outermost ASGI layer: remember the TCP transport so faults can reset or cut it.

    uvicorn's `send` is a bound method of its request cycle, which holds the transport. Under
    other servers (or httpx.ASGITransport) there is none, and faults fall back to exceptions.
    """

    def __init__(self, app: ASGIApp, runtime: SimRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                scope[_TRANSPORT] = transport
        await self.app(scope, receive, send)


async def _drop(scope: Scope, *, reset: bool) -> None:
    """Close the connection: RST (`reset`) or FIN after flushing what was written."""
    transport = scope.get(_TRANSPORT)
    if transport is None:
        raise ConnectionResetError("simulated connection drop (no transport to close)")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    for _ in range(3):  # let uvicorn see connection_lost before we return
        await asyncio.sleep(0)


class _DropResponse(Response):
    """Send `status` headers and `partial` of a `total`-byte body, then drop the connection."""

    def __init__(self, partial: bytes = b"", total: int = 0, *, reset: bool = False) -> None:
        super().__init__()
        self.partial, self.total, self.reset = partial, total, reset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.reset:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(self.total).encode())]})
            await send({"type": "http.response.body", "body": self.partial, "more_body": True})
        await _drop(scope, reset=self.reset)


async def _sleep_unless_gone(request: Request, seconds: float) -> bool:
    """Sleep; return True early if the client disconnected meanwhile."""
    if seconds <= 0:
        return False
    try:
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
            return True
    except TimeoutError:
        return False


def _retry_after(seconds: float) -> dict[str, str]:
    value = str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"
    return {"retry-after": value, "retry-after-ms": str(math.ceil(seconds * 1000))}


class _Errors:
    """Status + body for each wire format."""

    @staticmethod
    def openai(status: int, message: str, *, type_: str | None = None, param: str | None = None,
               code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
        default = {401: "invalid_request_error", 404: "invalid_request_error",
                   429: "requests"}.get(status, "server_error" if status >= 500 else
                                        "invalid_request_error")
        body = oai.error_body(message, type_ or default, param=param, code=code)
        return JSONResponse(body, status, headers=headers)

    @staticmethod
    def anthropic(status: int, message: str, *, headers: dict[str, str] | None = None,
                  **_: Any) -> JSONResponse:
        status = 529 if status == 503 else status
        return JSONResponse(anth.error_body(status, message), status, headers=headers)


def _provider_error(wire: Wire, exc: ProviderError) -> JSONResponse:
    status = exc.status or exc.http_status
    code = {404: "model_not_found"}.get(status) or (
        exc.code if exc.code == "context_length_exceeded" else None)
    if wire == "anthropic":
        message = exc.message
        if exc.code == "context_length_exceeded":
            message = f"prompt is too long: {exc.message}"
        return _Errors.anthropic(status, message)
    param = {"context_length_exceeded": "messages", "model_not_found": "model"}.get(code or "")
    return _Errors.openai(status, exc.message, code=code, param=param)


def _fault_response(wire: Wire, plan: SimPlan) -> Response | None:
    kind = plan.fault.kind
    err = _Errors.anthropic if wire == "anthropic" else _Errors.openai
    if kind == "429":
        return err(429, f"Rate limit reached for {plan.model} (simulated). Please try again "
                   f"in {plan.fault.retry_after_s:g}s.", code="rate_limit_exceeded",
                   headers=_retry_after(plan.fault.retry_after_s))
    if kind == "500":
        return err(500, "The server had an error while processing your request (simulated).")
    if kind == "503":
        return err(503, "The engine is currently overloaded, please try again later "
                   "(simulated).")
    if kind == "reset":
        return _DropResponse(reset=True)
    return None


class _Handlers:
    def __init__(self, runtime: SimRuntime) -> None:
        self.runtime = runtime

    def _authorized(self, request: Request) -> bool:
        key = self.runtime.config.api_key
        if key is None:
            return True
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return key in (bearer, request.headers.get("x-api-key", ""))

    async def _json(self, request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError as exc:
            raise WireError(f"We could not parse the JSON body of your request: {exc}") from exc

    async def _prepare(self, request: Request, wire: Wire,
                       parse: Callable[[Any], tuple[Any, int, bool]]) -> tuple[
                           SimPlan | None, Response | None, bool]:
        """Parse, authorize, plan and play faults; (plan, early response, include_usage)."""
        err = _Errors.anthropic if wire == "anthropic" else _Errors.openai
        if not self._authorized(request):
            return None, err(401, "Incorrect API key provided.", code="invalid_api_key"), False
        try:
            chat, n, include_usage = parse(await self._json(request))
            plan = self.runtime.plan(chat, n=n, stream=chat.stream)
        except WireError as exc:
            return None, err(exc.status, exc.message, param=exc.param, code=exc.code), False
        except ProviderError as exc:
            return None, _provider_error(wire, exc), False
        early = _fault_response(wire, plan)
        hang = early is None and plan.fault.kind == "hang"
        if hang and await _sleep_unless_gone(request, plan.fault.hang_s):
            return None, Response(status_code=499), False
        return plan, early, include_usage

    async def openai_chat(self, request: Request) -> Response:
        plan, early, include_usage = await self._prepare(request, "openai", oai.parse_request)
        if early is not None or plan is None:
            return early or Response(status_code=499)
        if plan.stream:
            chunks = [oai.sse(c) for c in oai.stream_bodies(plan, include_usage)]
            n_body = len(chunks) - 1 - int(include_usage)
            return _stream(plan, chunks, n_body, oai.DONE, request.scope)
        return await self._whole(request, plan, oai.completion_body(plan))

    async def anthropic_messages(self, request: Request) -> Response:
        def parse(body: Any) -> tuple[Any, int, bool]:
            return anth.parse_request(body), 1, False

        plan, early, _ = await self._prepare(request, "anthropic", parse)
        if early is not None or plan is None:
            return early or Response(status_code=499)
        if plan.stream:
            chunks = [anth.sse(name, data) for name, data in anth.stream_events(plan)]
            return _stream(plan, chunks, len(chunks) - 2, b"", request.scope)
        return await self._whole(request, plan, anth.message_body(plan))

    async def _whole(self, request: Request, plan: SimPlan, body: dict[str, Any]) -> Response:
        wait = plan.timing.total(plan.usage.output_tokens) * plan.time_scale
        if await _sleep_unless_gone(request, wait):
            return Response(status_code=499)
        data = json.dumps(body).encode()
        if plan.fault.kind == "midstream_cut":
            return _DropResponse(data[: plan.fault.cut_point(len(data))], len(data))
        return Response(data, media_type="application/json",
                        headers={"x-request-id": f"req_{plan.id}"})

    async def models(self, request: Request) -> Response:
        created = 1_700_000_000
        data = [{"id": name, "object": "model", "created": created, "owned_by": p.owned_by}
                for name, p in self.runtime.config.models.items()]
        return JSONResponse({"object": "list", "data": data})

    async def model(self, request: Request) -> Response:
        name = request.path_params["model"]
        profile = self.runtime.config.profile(name)
        if profile is None:
            return _Errors.openai(404, f"The model `{name}` does not exist.",
                                  code="model_not_found", param="model")
        return JSONResponse({"id": name, "object": "model", "created": 1_700_000_000,
                             "owned_by": profile.owned_by})

    async def get_config(self, request: Request) -> Response:
        if not self._authorized(request):
            return _Errors.openai(401, "Incorrect API key provided.", code="invalid_api_key")
        return JSONResponse(_public_config(self.runtime.config))

    async def patch_config(self, request: Request) -> Response:
        if not self._authorized(request):
            return _Errors.openai(401, "Incorrect API key provided.", code="invalid_api_key")
        try:
            new = self.runtime.patch(await self._json(request))
        except (ConfigError, WireError) as exc:
            return _Errors.openai(400, str(exc))
        return JSONResponse(_public_config(new))

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.runtime.stats())

    async def reset_stats(self, request: Request) -> Response:
        self.runtime.reset_stats()
        return JSONResponse({"ok": True})


def _public_config(config: SimConfig) -> dict[str, Any]:
    """The config as JSON with the api key hidden: even an authorized caller gets no secret back
    (it may be a proxy's log, a dashboard, a test report)."""
    data = config.model_dump(mode="json")
    if data.get("api_key"):
        data["api_key"] = "***"
    return data


def _stream(plan: SimPlan, chunks: list[bytes], n_body: int, done: bytes,
            scope: Scope) -> StreamingResponse:
    """SSE response; a mid-stream cut drops the connection among the first `n_body` chunks
    (those before the finish), so a cut stream never carries a finish reason."""
    cut = plan.fault.cut_point(n_body) if plan.fault.kind == "midstream_cut" else None

    async def body() -> AsyncIterator[bytes]:
        start = time.monotonic()
        ttft = plan.timing.ttft_s * plan.time_scale
        per_token = plan.timing.per_token_s * plan.time_scale
        for i, chunk in enumerate(chunks):
            if cut is not None and i == cut:
                await _drop(scope, reset=False)
                return
            delay = start + ttft + per_token * max(0, i - 1) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            yield chunk
        if done:
            yield done

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache",
                                      "x-request-id": f"req_{plan.id}"})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return _Errors.openai(status, f"Unknown request URL: {request.method} {request.url.path}.")


def create_app(config: SimConfig | None = None, *, runtime: SimRuntime | None = None) -> SimApp:
    """The sim as an ASGI app. Pass `runtime` to share state with a `SimServer` or a test."""
    rt = runtime or SimRuntime(config if config is not None else load_sim_config())
    h = _Handlers(rt)
    routes = [
        Route("/v1/chat/completions", h.openai_chat, methods=["POST"]),
        Route("/v1/messages", h.anthropic_messages, methods=["POST"]),
        Route("/v1/models", h.models, methods=["GET"]),
        Route("/v1/models/{model:path}", h.model, methods=["GET"]),
        Route("/_sim/config", h.get_config, methods=["GET"]),
        Route("/_sim/config", h.patch_config, methods=["POST", "PATCH"]),
        Route("/_sim/stats", h.stats, methods=["GET"]),
        Route("/_sim/stats/reset", h.reset_stats, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
    return SimApp(app, rt)




class SimServer:
    """Run the sim on a real socket in a background thread (for tests and notebooks).

        with SimServer(config, host="127.0.0.1", port=0) as srv:
            srv.base_url            # "http://127.0.0.1:PORT"; OpenAI base_url = base_url + "/v1"
            srv.patch_config({"models": {"sim-small": {"faults": {"rate_429": 1.0}}}})

    Binds before starting (port 0 = any free port), waits until uvicorn is serving, and on exit
    stops it, waiting at most `shutdown_timeout` for in-flight requests.
    """

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 *, time_scale: float | None = None, shutdown_timeout: float = 2.0) -> None:
        cfg = config if config is not None else load_sim_config()
        if time_scale is not None:
            cfg = cfg.model_copy(update={"time_scale": time_scale})
        self.runtime = SimRuntime(cfg)
        self.host = host
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # is TCP, and with proto 0 keep-alive responses stall ~40 ms (Nagle + delayed ACK).
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                   socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        uv_config = uvicorn.Config(create_app(runtime=self.runtime), log_level="warning",
                                   http="auto", ws="none", lifespan="off", access_log=False,
                                   timeout_graceful_shutdown=max(1, math.ceil(shutdown_timeout)))
        self._server = uvicorn.Server(uv_config)
        self._thread: threading.Thread | None = None
        self._shutdown_timeout = shutdown_timeout

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def start(self) -> SimServer:
        self._thread = threading.Thread(target=self._run, name=f"sim-server:{self.port}",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"sim server failed to start on {self.base_url}")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self._shutdown_timeout + 3)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def config(self) -> SimConfig:
        return self.runtime.config

    def patch_config(self, patch: dict[str, Any]) -> SimConfig:
        return self.runtime.patch(patch)

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    def reset_stats(self) -> None:
        self.runtime.reset_stats()


__all__ = ["SimApp", "SimServer", "create_app"]
