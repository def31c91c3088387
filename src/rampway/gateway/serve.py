"""Running the gateway: uvicorn (one or many workers) and, optionally, the simulator beside it.

Workers are separate processes that each build their own `Runtime` from the environment
(`RAMPWAY_PROJECT`, `RAMPWAY_SIM_URL`) through the `app_from_env` factory; they share nothing but
the database, so any number of them (on any number of hosts) can serve the same project.

Shutdown: on SIGTERM/SIGINT uvicorn stops accepting connections, lets in-flight requests finish
(up to `GRACEFUL_S`), then runs the lifespan shutdown, where the runtime drains the event queue
completely before the process exits.

The rollout controller (on unless `controller=False`) runs in exactly one process per `run`:
the worker itself when there is one (its lifespan starts and stops it, `$RAMPWAY_CONTROLLER_
INTERVAL` tells it to), the supervisor when there are several — so workers stay free of the
judge's numpy/scipy, and N workers do not make N looks per interval. More `rampway serve`
processes on one database each run one, but only the holder of the fleet's controller lease
looks (`rampway.rollout.lease`: an advisory lock on PostgreSQL, a file lock on SQLite); the
others stand by and take over if it stops. Transitions stay exactly-once (compare-and-swap).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rampway._heap import settle_heap
from rampway.config import Project, load_project
from rampway.errors import ConfigError
from rampway.gateway.app import GatewayApp
from rampway.gateway.rollouts import RolloutLoop
from rampway.gateway.runtime import Runtime

ENV_PROJECT = "RAMPWAY_PROJECT"
ENV_SIM_URL = "RAMPWAY_SIM_URL"
ENV_CONTROLLER_INTERVAL = "RAMPWAY_CONTROLLER_INTERVAL"
ENV_UI_PORT = "RAMPWAY_UI_PORT"  # the dashboard's own port (bound), when it has one
GRACEFUL_S = 30
SIM_START_S = 120


def app_from_env() -> GatewayApp:
    """uvicorn factory: the project from $RAMPWAY_PROJECT (else the cwd), sim URL if set."""
    raw = os.environ.get(ENV_PROJECT)
    project = load_project(Path(raw) if raw else None)
    interval = os.environ.get(ENV_CONTROLLER_INTERVAL)
    runtime = Runtime.from_project(
        project,
        sim_url=os.environ.get(ENV_SIM_URL) or None,
        rollout_interval=float(interval) if interval else None,
    )
    ui_port = os.environ.get(ENV_UI_PORT)
    app = GatewayApp(runtime, ui_port=int(ui_port) if ui_port else None)
    settle_heap()  # this process only serves: full collections must not stall it
    return app


def controller_interval(project: Project, interval: float | None = None) -> float:
    """Seconds between the controller's looks: `interval`, else rollouts.interval (60)."""
    from rampway.rollout.plan import settings_from

    settings = settings_from(project.config.rollouts, str(project.config_path))
    if interval is None:
        return settings.interval
    if not (math.isfinite(interval) and interval > 0):
        raise ConfigError("--controller-interval must be a positive number of seconds")
    return interval


def sim_config_path(project: Project) -> Path | None:
    """`sim: {config: sim.yaml}` in rampway.yaml, relative to the project root."""
    raw = project.config.sim.get("config")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ConfigError("rampway.yaml: sim.config must be a path to a sim YAML file")
    path = Path(raw)
    return path if path.is_absolute() else project.root / path


def _sim_main(config_path: str | None, host: str, port: int, conn: Connection) -> None:
    """Child process: run the simulator until terminated; report its OpenAI base URL."""
    import signal
    import threading

    from rampway.providers.sim import SimServer, load_sim_config

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server = SimServer(load_sim_config(config_path), host=host, port=port).start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails cleanly
        conn.send(("error", str(exc)))
        return
    settle_heap()  # this process only serves the simulator
    conn.send(("ok", server.openai_base_url))
    # The parent may die without cleaning up (uvicorn re-raises SIGTERM after its graceful
    # shutdown, which skips `finally` blocks): follow it rather than outlive it.
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    server.stop()


class SimProcess:
    """The simulator in its own process (so it never competes with a worker for the GIL)."""

    def __init__(self, config_path: Path | None, host: str = "127.0.0.1", port: int = 0) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_sim_main,
            args=(None if config_path is None else str(config_path), host, port, child),
            name="rampway-sim",
            daemon=True,
        )
        self._proc.start()
        if not self._wait_report(parent):
            self.stop()
            raise ConfigError(f"the simulator did not start within {SIM_START_S:g} s")
        status, value = parent.recv()
        if status != "ok":
            self.stop()
            raise ConfigError(f"cannot start the simulator: {value}")
        self.base_url: str = value

    def _wait_report(self, conn: Connection) -> bool:
        """Wait for the child's report; a child that died without one fails at once. The
        limit is generous: a spawned interpreter importing rampway on a loaded 2-core
        machine can take tens of seconds, and giving up early fails a healthy start."""
        deadline = time.monotonic() + SIM_START_S
        while time.monotonic() < deadline:
            if conn.poll(0.2):
                return True
            if not self._proc.is_alive():
                if conn.poll(0):
                    return True
                raise ConfigError(
                    f"the simulator process exited (code {self._proc.exitcode}) before starting"
                )
        return False

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(10)


def bind_socket(host: str, port: int, what: str = "port") -> socket.socket:
    """The listening socket, created with proto IPPROTO_TCP; a port in use is a ConfigError
    naming the option it came from (`what`).

    asyncio sets TCP_NODELAY only on accepted sockets whose proto is TCP; uvicorn's own
    `bind_socket` (used for several workers) leaves proto 0, and keep-alive responses written
    in two segments then stall ~40 ms on Nagle + delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {host}:{port} ({what}): {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def check_ports(port: int, ui_port: int | None, sim_port: int | None) -> None:
    """Distinct ports for distinct listeners (0 = any free port, never a clash)."""
    named = [("--port", port), ("--ui-port", ui_port), ("--sim-port", sim_port)]
    seen: dict[int, str] = {}
    for flag, value in named:
        if not value:
            continue
        if value in seen:
            raise ConfigError(f"{flag} {value} is also {seen[value]}: give each its own port")
        seen[value] = flag


def reserve_port(host: str, port: int, what: str) -> None:
    """Fail now if `port` is taken, before anything starts: the simulator binds its port in a
    child process, which would otherwise be spawned only to fail after the gateway's socket."""
    if port:
        bind_socket(host, port, what).close()


def preflight(project: Project) -> None:
    """Fail fast, in the parent, on what every worker would fail on: settings, providers,
    database (opening it also migrates it once, before workers race to)."""
    from rampway.gateway.runtime import provider_config
    from rampway.gateway.settings import GatewaySettings
    from rampway.providers.registry import build_providers
    from rampway.store import Store

    GatewaySettings.from_config(project.config.gateway)
    controller_interval(project)  # validates the rollouts: section the runtime reads
    build_providers(provider_config(project))
    Store.open(project.db_url).close()


def run(
    project: Project,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    workers: int = 1,
    with_sim: bool = False,
    sim_port: int = 0,
    log_level: str = "warning",
    on_ready: Callable[[str], None] | None = None,
    controller: bool = True,
    controller_every: float | None = None,
    ui_port: int | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. Blocking. `port=0` picks a free port; `on_ready` hears
    where the gateway listens (the real port) once the socket is bound. With `ui_port` the
    dashboard is served on that port (same host, same processes) instead of the gateway's."""
    import uvicorn

    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    preflight(project)
    interval = controller_interval(project, controller_every) if controller else None
    os.environ[ENV_PROJECT] = str(project.root)
    os.environ.pop(ENV_CONTROLLER_INTERVAL, None)
    os.environ.pop(ENV_UI_PORT, None)
    if interval is not None and workers == 1:
        os.environ[ENV_CONTROLLER_INTERVAL] = repr(interval)
    say = on_ready or (lambda _message: None)
    check_ports(port, ui_port, sim_port if with_sim else None)
    # Every port is taken (or found taken) before any process starts.
    sockets = [bind_socket(host, port, "--port")]
    if ui_port is not None:
        sockets.append(bind_socket(host, ui_port, "--ui-port"))
    sim = None
    try:
        if with_sim:
            reserve_port("127.0.0.1", sim_port, "--sim-port")
            sim = SimProcess(sim_config_path(project), port=sim_port)
            os.environ[ENV_SIM_URL] = sim.base_url
            say(f"simulator at {sim.base_url}")
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rampway-metrics-")
        config = uvicorn.Config(
            "rampway.gateway.serve:app_from_env",
            factory=True,
            workers=workers,
            log_level=log_level,
            lifespan="on",
            access_log=False,
            # nothing reads the client address; the middleware cost ~3% of a request's CPU
            proxy_headers=False,
            timeout_graceful_shutdown=GRACEFUL_S,
        )
        bound = ui_bound = sockets[0].getsockname()[1]
        if ui_port is not None:
            ui_bound = sockets[1].getsockname()[1]
            os.environ[ENV_UI_PORT] = str(ui_bound)  # the workers' app splits on it
        say(f"rampway gateway on http://{_url_host(host)}:{bound}/v1 "
            f"(project {project.root}, {workers} worker(s))")
        say(f"dashboard on http://{_url_host(host)}:{ui_bound}/ui/ (sign in with an admin key)")
        if interval is not None:
            say(f"rollout controller: looking every {interval:g}s")
        if workers > 1:
            _run_workers(config, sockets, project, interval)
        else:
            uvicorn.Server(config).run(sockets=sockets)
    finally:
        if sim is not None:
            sim.stop()
        for sock in sockets:
            sock.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _run_workers(config: Any, sockets: list[socket.socket], project: Project,
                 interval: float | None) -> None:
    """Several workers under uvicorn's supervisor, the rollout controller beside it."""
    from uvicorn.supervisors import Multiprocess

    loop = None if interval is None else _supervisor_loop(project, interval)
    try:
        Multiprocess(config, sockets=sockets).run()
    finally:
        if loop is not None:
            loop.stop()
            loop.controller.notifier.close()
            loop.controller.close()
            loop.controller.store.close()


def _supervisor_loop(project: Project, interval: float) -> RolloutLoop:
    from rampway.events.retention import job_for
    from rampway.gateway.settings import GatewaySettings
    from rampway.rollout import Notifier
    from rampway.rollout.controller import Controller
    from rampway.rollout.plan import settings_from
    from rampway.store import Store

    webhooks = settings_from(project.config.rollouts, str(project.config_path)).webhooks
    retention_s = GatewaySettings.from_config(project.config.gateway).events.retention
    store = Store.open(project.db_url)
    # the project: its `events:` (ClickHouse) is where the looks read the workers' events
    loop = RolloutLoop(Controller(store, notifier=Notifier(webhooks), interval=interval,
                                  retention=job_for(store, retention_s), project=project))
    loop.start()
    return loop


__all__ = [
    "ENV_CONTROLLER_INTERVAL",
    "ENV_PROJECT",
    "ENV_SIM_URL",
    "ENV_UI_PORT",
    "SimProcess",
    "app_from_env",
    "bind_socket",
    "check_ports",
    "controller_interval",
    "preflight",
    "run",
    "sim_config_path",
]
