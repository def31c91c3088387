"""`rampway models drift|watch`: notice a provider moving the model behind a release.

    rampway models drift [--since 1d] [--json]       # exit 1 when some release drifted
    rampway models watch [--since 1d] [--interval 60] [--once]

`drift` reports, from the request events, every release whose provider-reported model (or
backend fingerprint) changed within the window. `watch` is the job that acts on it: each tick it
writes a `model.drift` audit entry (the release's timeline) for each new model change and fires
the webhooks configured under `rollouts: webhooks:` in rampway.yaml (event `model_drift`).
"""

from __future__ import annotations

import re
import time
from typing import Annotated

import typer

from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.cli.models import models_app
from rampway.errors import ConfigError

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SinceOption = Annotated[
    str, typer.Option("--since", help="Window back from now: 30m, 6h, 1d, 2w.")
]


def parse_span(text: str, option: str = "--since") -> float:
    """'30m', '6h', '1d', '2w' → seconds."""
    match = _SPAN.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"{option}: expected a duration like 30m, 6h, 1d or 2w, got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@models_app.command("drift")
@handle_errors
def drift_cmd(
    since: SinceOption = "1d", project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Releases whose provider-reported model changed within the window (exit 1 if any)."""
    from rampway.cli.release import open_store, store_exists
    from rampway.lifecycle.drift import detect_drift, read_observations

    window = parse_span(since)
    proj = load_project_option(project)
    found = []
    if store_exists(proj):
        with open_store(proj) as store:
            found = detect_drift(read_observations(store, since=time.time() - window))
    if as_json:
        emit_json({"since": since, "ok": not found, "drift": [d.to_json() for d in found]})
    elif not found:
        console.print(f"ok: no provider-reported model or fingerprint changed in the last {since}")
    else:
        for drift in found:
            console.print(f"{drift.kind} drift: {drift.describe()}", markup=False)
    if found:
        raise typer.Exit(1)


@models_app.command("watch")
@handle_errors
def watch_cmd(
    since: SinceOption = "1d",
    interval: Annotated[
        str, typer.Option("--interval", help="Time between ticks: 30s, 5m, 1h.")
    ] = "5m",
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    project: ProjectOption = None,
) -> None:
    """Audit and announce (webhooks) each new provider model drift; runs until interrupted."""
    from rampway.cli.release import open_store
    from rampway.lifecycle.watch import watch_once
    from rampway.rollout.notify import Notifier
    from rampway.rollout.plan import settings_from

    window, pause = parse_span(since), parse_span(interval, "--interval")
    proj = load_project_option(project)
    notifier = Notifier(settings_from(proj.config.rollouts, str(proj.config_path)).webhooks)
    try:
        with open_store(proj) as store:
            while True:
                for drift in watch_once(store, notifier, window_s=window):
                    console.print(f"drift: {drift.describe()}", markup=False)
                if once:
                    return
                time.sleep(pause)
    except KeyboardInterrupt:
        return
    finally:
        notifier.close()


__all__ = ["drift_cmd", "parse_span", "watch_cmd"]
