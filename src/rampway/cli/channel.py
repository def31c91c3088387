"""`rampway channel …` and `rampway rollback`: move a feature's channels, every move recorded.

    rampway channel set support-bot production HEAD --reason "ship the new FAQ"
    rampway channel list support-bot
    rampway rollback support-bot --reason "refund answers regressed"
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    current_actor,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.cli.release import open_store, record_json
from rampway.config import NAME_PATTERN
from rampway.errors import ConfigError, ConflictError, RefError
from rampway.release import check_release, resolve_ref
from rampway.release._refs import release_dir_for

channel_app = typer.Typer(help="Move channels (production, candidate, …).", no_args_is_help=True)
app.add_typer(channel_app, name="channel")

FeatureArg = Annotated[str, typer.Argument(help="Feature name, e.g. support-bot.")]


def check_name(kind: str, value: str) -> None:
    """Refuse a bad channel name before anything is written (publish happens first)."""
    if not re.fullmatch(NAME_PATTERN, value):
        raise ConfigError(f"invalid {kind} name {value!r} (letters, digits, '.', '_', '-')")


def _reason(reason: str | None, default: str | None = None) -> str:
    text = (reason or "").strip() or (default or "")
    if not text:
        raise ConfigError("--reason must not be empty: say why the channel moves")
    return text


@channel_app.command("set")
@handle_errors
def set_cmd(
    feature: FeatureArg,
    channel: Annotated[str, typer.Argument(help="Channel name, e.g. production.")],
    ref: Annotated[str, typer.Argument(help="Release: id, channel, path or git revision.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", help="Fail if the channel moved past this version."),
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point CHANNEL at a release. A release that is not published yet is published first."""
    why = _reason(reason)
    proj = load_project_option(project)
    actor = current_actor()
    check_name("channel", channel)
    with open_store(proj) as store:
        release = resolve_ref(proj, feature, ref, store)
        check_release(proj, release, release_dir_for(proj, ref))
        before = store.get_channel(feature, channel)
        current = 0 if before is None else before.version
        if expected_version is not None and expected_version != current:
            raise ConflictError(
                f"channel {channel} of {feature} is at version {current}, "
                f"not {expected_version}: someone moved it since you read it"
            )
        store.publish(release.feature, release.digest, release.id, release.canonical, actor=actor)
        state = store.set_channel(
            feature, channel, release.id, actor=actor, reason=why,
            expected_version=expected_version,
        )
    _report(state, None if before is None else before.release_id, as_json)


@channel_app.command("list")
@handle_errors
def list_cmd(
    feature: FeatureArg, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Where each channel of FEATURE points now."""
    proj = load_project_option(project)
    with open_store(proj) as store:
        states = store.list_channels(feature)
    if as_json:
        emit_json({"feature": feature, "channels": [record_json(s) for s in states]})
        return
    if not states:
        console.print(f"{feature} has no channels yet")
    for s in states:
        console.print(f"[bold]{s.channel}[/] → {s.release_id} (version {s.version})")


@app.command("rollback")
@handle_errors
def rollback_cmd(
    feature: FeatureArg,
    channel: Annotated[str, typer.Option("--channel", help="Channel to move back.")] = "production",
    reason: Annotated[str | None, typer.Option("--reason", help="Why (audit log).")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move CHANNEL (default production) back to the release it pointed at before."""
    why = _reason(reason, default="rollback")
    proj = load_project_option(project)
    with open_store(proj) as store:
        before = store.get_channel(feature, channel)
        if before is None:
            raise RefError(f"unknown channel {channel!r} of feature {feature!r}")
        state = store.rollback(feature, channel, actor=current_actor(), reason=why)
    _report(state, before.release_id, as_json)


def _report(state: Any, previous: str | None, as_json: bool) -> None:
    if as_json:
        emit_json({**record_json(state), "previous_release_id": previous})
        return
    was = f" (was {previous})" if previous else ""
    console.print(
        f"[bold]{state.feature}[/] {state.channel} → [bold]{state.release_id}[/]{was}, "
        f"version {state.version}"
    )


__all__ = ["channel_app"]
