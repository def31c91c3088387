"""The dashboard on its own port (`rampway serve --ui-port N`): one server, two sockets.

uvicorn listens on both sockets with the same application; this pure-ASGI layer (outermost,
see `rampway.gateway.app.build_stack`) splits them by the port the request came in on
(`scope["server"]`): the dashboard port serves only `/ui/…` (its root redirects there), the
gateway port everything but `/ui/…`. So a firewall or load balancer can expose the model API
and keep the pages on an internal address, without a second process or a second database pool.

    app = DashboardPort(stack, ui_port=8788)
"""

from __future__ import annotations

from rampway.gateway._http import ASGIApp, Receive, Scope, Send, send_bytes, send_json

UI_PREFIX = "/ui"


def _is_ui(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


class DashboardPort:
    """Route by listening port: `ui_port` → the dashboard only; any other → no dashboard."""

    def __init__(self, app: ASGIApp, ui_port: int) -> None:
        self.app = app
        self.ui_port = ui_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server") or (None, None)
        on_ui_port = server[1] == self.ui_port
        path = scope["path"]
        if on_ui_port and path == "/":
            await send_bytes(send, 307, b"", [(b"location", b"/ui/")])
        elif on_ui_port and not _is_ui(path):
            await send_bytes(send, 404, b"not found: this port serves the dashboard at /ui/\n",
                             [(b"content-type", b"text/plain; charset=utf-8")])
        elif not on_ui_port and _is_ui(path):
            await send_json(send, 404, {"error": {
                "message": f"the dashboard is served on port {self.ui_port}, not here",
                "type": "not_found_error", "param": None, "code": "not_found"}})
        else:
            await self.app(scope, receive, send)


__all__ = ["DashboardPort"]
