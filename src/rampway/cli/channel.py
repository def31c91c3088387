"""`rampway channel …` and `rampway rollback`: move a feature's channels, every move recorded.

    rampway channel set support-bot production HEAD --reason "ship the new FAQ"
    rampway channel set support-bot production HEAD --skip-gate --reason "P0 hotfix"
    rampway channel list support-bot
    rampway rollback support-bot --reason "refund answers regressed"
    rampway rollback support-bot --expected-version 7 --server http://gw:8787

`--server URL` goes through a running server's admin API (the key's role is checked there and
the audit log names the key); without it the store is used directly. `--expected-version`
makes the move conditional on the channel's version in both modes, checked inside the write
(If-Match on the server), so a move that lands after you looked is refused, never overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from rampway.cli._refs import local_project, routable_release
from rampway.cli._remote import ServerOption, admin_client
from rampway.cli.release import open_store, record_json
from rampway.errors import ConfigError, ConflictError, RefError

if TYPE_CHECKING:  # releases and the project config load pydantic: imported where used
    from rampway.admin.client import AdminClient
    from rampway.config import Project

channel_app = typer.Typer(help="Move channels (production, candidate, …).", no_args_is_help=True)
app.add_typer(channel_app, name="channel")

FeatureArg = Annotated[str, typer.Argument(help="Feature name, e.g. support-bot.")]


def check_name(kind: str, value: str) -> None:
    """Refuse a bad channel name before anything is written (publish happens first)."""
    from rampway.config import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, value):
        raise ConfigError(f"invalid {kind} name {value!r} (letters, digits, '.', '_', '-')")


def _reason(reason: str | None, default: str | None = None) -> str:
    """The reason given, else `default`; ReasonRequired (exit 2) before anything is read."""
    from rampway._reason import require_reason

    return require_reason((reason or "").strip() or (default or ""), "moving a channel")


SkipGate = Annotated[
    bool,
    typer.Option("--skip-gate", help="Move a protected channel without its gate PASS or "
                 "approval (audited with --reason; an admin key with --server)."),
]
ExpectedVersion = Annotated[
    int | None,
    typer.Option("--expected-version", help="Fail if the channel moved past this version."),
]


@channel_app.command("set")
@handle_errors
def set_cmd(
    feature: FeatureArg,
    channel: Annotated[str, typer.Argument(help="Channel name, e.g. production.")],
    ref: Annotated[str, typer.Argument(help="Release: id, channel, path or git revision.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    expected_version: ExpectedVersion = None,
    skip_gate: SkipGate = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point CHANNEL at a release. A release that is not published yet is published first.

    A protected channel (`production` by default; rampway.yaml `channels:`) needs a recorded
    gate PASS of the release against what it serves now (and/or an approval); `--skip-gate`
    overrides with --reason, audited. `rampway rollback` is never blocked."""
    from rampway.release.protect import guard_move, record_override

    why = _reason(reason)
    check_name("channel", channel)
    if server:
        with admin_client(server) as client:
            moved = _set_remote(client, project, feature, channel, ref, why, expected_version,
                                skip_gate)
        _report(moved, moved.get("previous_release_id"), as_json)
        return
    proj = load_project_option(project)
    actor = current_actor()
    with open_store(proj) as store:
        check_known_feature(proj, store.list_features(), feature)
        release = routable_release(proj, feature, ref, store)
        before = store.get_channel(feature, channel)
        current = 0 if before is None else before.version
        _check_expected(feature, channel, expected_version, current)
        allowed = guard_move(store, proj, feature, channel, release.id,
                             why if skip_gate else None, ref)
        store.publish(release.feature, release.digest, release.id, release.canonical, actor=actor,
                      reason=why)
        state = store.set_channel(
            feature, channel, release.id, actor=actor, reason=why,
            expected_version=expected_version,
        )
        if allowed.get("skipped"):
            record_override(store, actor=actor, feature=feature, channel=channel,
                            release_id=release.id, reason=why)
    _report(record_json(state), None if before is None else before.release_id, as_json)


def check_known_feature(proj: Project, stored: list[str], feature: str) -> None:
    """A typo'd feature must not silently become a new one: the feature has to be in the store,
    in releases/ or in rampway.yaml `features:`."""
    from rampway.release import discover

    known = sorted(set(stored) | set(discover(proj.root)) | set(proj.config.features))
    if feature not in known:
        listed = ", ".join(known) or "none yet"
        raise RefError(
            f"unknown feature {feature!r} (known: {listed}); a new feature starts from "
            f"releases/{feature}/release.yaml"
        )


def _check_expected(feature: str, channel: str, expected: int | None, current: int) -> None:
    """Refuse early, before anything is published; the move itself checks again, atomically."""
    if expected is not None and expected != current:
        raise ConflictError(
            f"channel {channel} of {feature} is at version {current}, "
            f"not {expected}: someone moved it since you read it"
        )


def _set_remote(
    client: AdminClient, project: Path | None, feature: str, channel: str, ref: str, why: str,
    expected: int | None, skip_gate: bool = False,
) -> dict[str, Any]:
    """`channel set` through the admin API: resolve REF (local dir, then the server's channels
    and releases, then git), publish a local release through the API, move with If-Match."""
    from rampway.release._refs import release_dir_for

    if expected is not None:
        _check_expected(feature, channel, expected, _remote_version(client, feature, channel))
    proj = local_project(project)
    release_id = None
    if proj is None or release_dir_for(proj, ref) is None:
        release_id = client.find_release(feature, ref)
    if release_id is None:
        if proj is None:
            raise RefError(f"unknown ref {ref!r} for feature {feature!r}: not a channel or "
                           "release on the server, and no local project to look in")
        served = [str(f["name"]) for f in client.request("GET", "/features").json()["features"]]
        check_known_feature(proj, served, feature)  # publishing would create a typo'd feature
        local = routable_release(proj, feature, ref)
        release_id = str(client.publish_release(feature, local.canonical, reason=why)["release_id"])
    if_match = None if expected is None else f'"{expected}"'
    return client.set_channel(feature, channel, release_id, reason=why, if_match=if_match,
                              skip_gate=skip_gate)


def _remote_version(client: AdminClient, feature: str, channel: str) -> int:
    try:
        state, _ = client.get_channel(feature, channel)
    except RefError:
        return 0
    return int(state["version"])


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
    expected_version: ExpectedVersion = None,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move CHANNEL (default production) back to the release it pointed at before."""
    why = _reason(reason, default="rollback")
    if server:
        if_match = None if expected_version is None else f'"{expected_version}"'
        with admin_client(server) as client:
            moved = client.rollback(feature, channel, reason=why, if_match=if_match)
        _report(moved, moved.get("previous_release_id"), as_json)
        return
    proj = load_project_option(project)
    with open_store(proj) as store:
        before = store.get_channel(feature, channel)
        if before is None:
            raise RefError(f"unknown channel {channel!r} of feature {feature!r}")
        state = store.rollback(feature, channel, actor=current_actor(), reason=why,
                               expected_version=expected_version)
        move = store.channel_move(feature, channel, state.version)
    _report(record_json(state), None if move is None else move.from_release, as_json)


def _report(state: dict[str, Any], previous: str | None, as_json: bool) -> None:
    if as_json:
        emit_json({**state, "previous_release_id": previous})
        return
    was = f" (was {previous})" if previous else ""
    console.print(
        f"[bold]{state['feature']}[/] {state['channel']} → [bold]{state['release_id']}[/]{was}, "
        f"version {state['version']}"
    )


__all__ = ["channel_app"]
