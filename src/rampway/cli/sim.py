"""`rampway sim …`: run the simulated provider and inspect its models.

    rampway sim serve [--host 127.0.0.1] [--port 8900] [--config sim.yaml] [--time-scale 0]
    rampway sim models [--config sim.yaml] [--json]

`serve` speaks the OpenAI Chat Completions API under /v1 (point any OpenAI client at
http://HOST:PORT/v1) and the Anthropic Messages API at /v1/messages (Anthropic base URL
http://HOST:PORT).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rampway.cli import app
from rampway.cli._common import JsonOption, console, emit_json, err_console, fail, handle_errors

if TYPE_CHECKING:
    from rampway.providers.sim import SimConfig

sim_app = typer.Typer(help="The simulated LLM provider (OpenAI + Anthropic wire formats).",
                      no_args_is_help=True)
app.add_typer(sim_app, name="sim")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="sim.yaml merged over the bundled defaults.",
                 show_default=False),
]


def _load(config: Path | None, time_scale: float | None = None) -> SimConfig:
    from rampway.providers.sim import load_sim_config

    cfg = load_sim_config(config)
    if time_scale is not None:
        if not 0 <= time_scale <= 100:
            fail("--time-scale must be between 0 and 100")
        cfg = cfg.model_copy(update={"time_scale": time_scale})
    return cfg


@sim_app.command("serve")
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8900,
    config: ConfigOption = None,
    time_scale: Annotated[
        float | None,
        typer.Option("--time-scale", help="Multiply simulated latency (0 = instant).",
                     show_default=False),
    ] = None,
) -> None:
    """Serve the simulator over HTTP until interrupted."""
    import uvicorn

    from rampway._heap import settle_heap
    from rampway.providers.sim import create_app

    if not 0 <= port <= 65535:
        fail("--port must be between 0 and 65535")
    cfg = _load(config, time_scale)
    # proto IPPROTO_TCP so asyncio sets TCP_NODELAY per connection (else ~40 ms keep-alive stalls)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        fail(f"cannot bind {host}:{port}: {exc.strerror or exc}")
    bound = sock.getsockname()[1]
    err_console.print(f"rampway sim listening on http://{host}:{bound} "
                      f"(OpenAI base URL http://{host}:{bound}/v1; models: "
                      f"{', '.join(cfg.models)}; time_scale {cfg.time_scale:g})", markup=False)
    server = uvicorn.Server(uvicorn.Config(create_app(cfg), log_level="warning", http="auto",
                                           ws="none", lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=2))
    settle_heap()  # the bench's baseline: a full collection must not stall it either
    server.run(sockets=[sock])


def _rows(cfg: SimConfig) -> list[dict[str, Any]]:
    return [{
        "model": name,
        "description": p.description,
        "context_window": p.context_window,
        "max_output_tokens": p.max_output_tokens,
        "input_per_mtok": p.prices.input_per_mtok,
        "output_per_mtok": p.prices.output_per_mtok,
        "cached_input_per_mtok": p.prices.cached_input_per_mtok,
        "quality": p.quality,
        "verbosity": p.verbosity,
        "tone": p.tone,
        "json_adherence": p.json_adherence,
        "tool_propensity": p.tool_propensity,
        "refusal_rate": p.refusal_rate,
        "ttft_median_s": p.latency.ttft_median_s,
        "per_token_ms": p.latency.per_token_ms,
        "fault_rate": p.faults.total_rate(),
    } for name, p in cfg.models.items()]


@sim_app.command("models")
@handle_errors
def models(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the simulated models with their prices, quality, latency and fault rates."""
    cfg = _load(config)
    rows = _rows(cfg)
    if as_json:
        emit_json({"time_scale": cfg.time_scale, "models": rows})
        return
    from rich.table import Table

    table = Table(box=None)
    table.add_column("model", no_wrap=True)
    for header in ("context", "$/1M in·out·cached", "quality", "style", "json", "tools", "ttft",
                   "faults"):
        table.add_column(header, no_wrap=True)
    for r in rows:
        prices = f"{r['input_per_mtok']:g}·{r['output_per_mtok']:g}·{r['cached_input_per_mtok']:g}"
        table.add_row(r["model"], f"{r['context_window'] // 1000}k", prices,
                      f"{r['quality']:.2f}", f"{r['tone']} ×{r['verbosity']:g}",
                      f"{r['json_adherence']:.2f}", f"{r['tool_propensity']:.2f}",
                      f"{r['ttft_median_s'] * 1000:.0f}ms", f"{r['fault_rate']:.0%}")
    console.print(table)


__all__ = ["sim_app"]
