"""`rampway release …`: validate, show, diff, publish and history of releases.

    rampway release validate
    rampway release show support-bot production
    rampway release diff support-bot HEAD~1 HEAD --json
    rampway release publish
    rampway release history support-bot
    rampway release approve support-bot HEAD --reason "reviewed the new refund wording"
    rampway release export support-bot support-bot@3f2a9c1e --force   # into releases/support-bot
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
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
    err_console,
    handle_errors,
    load_project_option,
    print_code,
)
from rampway.cli._refs import routable_release
from rampway.errors import RampwayError, RefError

# Releases (pydantic, Jinja, JSON Schema), the store (SQLAlchemy, Alembic) and rich's tables are
# imported inside the commands that use them: `rampway --help` loads every command module.
if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.release import Release
    from rampway.store import Store

release_app = typer.Typer(
    help="Validate, inspect, diff and publish releases.", no_args_is_help=True
)
app.add_typer(release_app, name="release")

FeatureArg = Annotated[str, typer.Argument(help="Feature name, e.g. support-bot.")]


# -- shared helpers (also used by the channel and rollback commands) ----------------------------


@contextmanager
def open_store(project: Project) -> Iterator[Store]:
    """The project's store, closed afterwards."""
    from rampway.store import Store

    store = Store.open(project.db_url)
    try:
        yield store
    finally:
        store.close()


def needs_store(project: Project, ref: str | None) -> bool:
    """Whether resolving `ref` may need the store. Working-tree and path refs never do, and
    neither does anything while the SQLite file does not exist yet: read-only commands must not
    create a database as a side effect (`release diff HEAD~1 HEAD` in a fresh clone)."""
    from rampway.release._refs import release_dir_for

    return ref is not None and release_dir_for(project, ref) is None and store_exists(project)


def store_exists(project: Project) -> bool:
    """False for a SQLite file not created yet: read-only commands must not create one as a
    side effect (any other database is assumed to be there)."""
    from rampway.store import parse_url

    url = parse_url(project.db_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return True
    return database.startswith("file:") or Path(database).exists()


def resolve_one(project: Project, feature: str, ref: str | None) -> Release:
    """Resolve a ref, opening the store only if the ref may live there."""
    from rampway.release import resolve_ref

    if not needs_store(project, ref):
        return resolve_ref(project, feature, ref)
    with open_store(project) as store:
        return resolve_ref(project, feature, ref, store)


def record_json(record: Any) -> dict[str, Any]:
    """A store record (frozen dataclass) as JSON-ready data with ISO timestamps."""
    data = dataclasses.asdict(record)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def working_features(project: Project, names: list[str] | None) -> dict[str, Path]:
    """The requested features' working-tree release dirs (all of them when none are named)."""
    from rampway.release import discover

    found = discover(project.root)
    if not names:
        if not found:
            raise RefError(f"no releases found under {project.root / 'releases'}")
        return found
    missing = [n for n in names if n not in found]
    if missing:
        raise RefError(f"no release for feature {missing[0]!r} in releases/ of {project.root}")
    return {n: found[n] for n in names}


# -- commands ----------------------------------------------------------------------------------


@release_app.command("validate")
@handle_errors
def validate_cmd(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Check every release in releases/; each error names file:line. Exit 2 if any fails."""
    from rampway.release._project import load_checked

    proj = load_project_option(project)
    results: list[dict[str, Any]] = []
    for feature, directory in working_features(proj, None).items():
        try:
            release = load_checked(proj, directory, feature)
            results.append({"feature": feature, "id": release.id, "error": None})
        except RampwayError as exc:
            results.append({"feature": feature, "id": None, "error": exc.message})
    ok = all(r["error"] is None for r in results)
    if as_json:
        emit_json({"ok": ok, "releases": results})
    else:
        for r in results:
            if r["error"] is None:
                console.print(f"[green]ok[/]    {r['id']}")
            else:
                err_console.print(f"error: {r['error']}", markup=False, style="red")
    if not ok:
        raise typer.Exit(2)


@release_app.command("show")
@handle_errors
def show_cmd(
    feature: FeatureArg,
    ref: Annotated[str | None, typer.Argument(help="id, channel, path or git rev")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one release: models, parameters, tools and prompt files."""
    proj = load_project_option(project)
    release = resolve_one(proj, feature, ref)
    if as_json:
        emit_json(release.summary())
        return
    _print_release(release)


def _print_release(release: Release) -> None:
    from rich.table import Table

    spec = release.spec
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("release", f"[bold]{release.id}[/]")
    table.add_row("models", " → ".join(f"{p}/{m}" for p, m in release.models))
    params = spec.params.model_dump(exclude_none=True)
    table.add_row("params", ", ".join(f"{k}={v}" for k, v in params.items()) or "-")
    table.add_row("traffic", f"{spec.traffic_class}, {spec.mode}")
    table.add_row("variables", ", ".join(spec.variables) or "-")
    tools = ", ".join(t.function.name for t in spec.tools) or "-"
    owns = bool(spec.tools) or spec.mode == "managed"  # see rampway.gateway.app_tools
    rule = f"app tools: {spec.tools_from_app or 'refuse'}" if owns else "app tools pass through"
    table.add_row("tools", f"{tools} ({rule})")
    table.add_row("response", spec.response_format.type if spec.response_format else "text")
    table.add_row("owner", spec.owner or "-")
    table.add_row("description", spec.description or "-")
    console.print(table)
    for path, text in release.files.items():
        console.print(f"\n[bold]{path}[/]")
        lexer = "markdown" if path.endswith(".md") else "jinja"
        print_code(text, lexer)
    if spec.messages.user is not None and spec.messages.user_file is None:
        console.print("\n[bold]messages.user (inline)[/]")
        print_code(spec.messages.user, "jinja")


@release_app.command("diff")
@handle_errors
def diff_cmd(
    feature: FeatureArg,
    a: Annotated[str, typer.Argument(help="Old ref: id, channel, path or git rev.")],
    b: Annotated[str, typer.Argument(help="New ref: id, channel, path or git rev.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed from A to B: prompt text as a unified diff, other fields one by one."""
    from rampway.release import diff_releases, resolve_ref

    proj = load_project_option(project)
    if needs_store(proj, a) or needs_store(proj, b):
        with open_store(proj) as store:
            old, new = resolve_ref(proj, feature, a, store), resolve_ref(proj, feature, b, store)
    else:
        old, new = resolve_ref(proj, feature, a), resolve_ref(proj, feature, b)
    diff = diff_releases(old, new)
    if as_json:
        emit_json(diff.to_json())
        return
    console.print(f"[bold]{diff.a}[/] → [bold]{diff.b}[/]")
    if diff.identical:
        console.print("no changes")
    for change in diff.fields:
        style = {"added": "green", "removed": "red", "changed": "yellow"}[change.kind]
        console.print(change.render(), style=style, markup=False)
    if diff.files:
        print_code(diff.unified(), "diff")


@release_app.command("publish")
@handle_errors
def publish_cmd(
    features: Annotated[list[str] | None, typer.Argument(help="Features (default: all).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log; a blank "
                                        "one is refused).")] = "release publish",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register working-tree releases in the store. Idempotent; all are validated first."""
    from rampway._reason import require_reason
    from rampway.release._project import load_checked

    require_reason(reason, "publishing releases")  # before anything is read or opened
    proj = load_project_option(project)
    releases = [load_checked(proj, d, f) for f, d in working_features(proj, features).items()]
    actor = current_actor()
    results = []
    with open_store(proj) as store:
        for release in releases:
            new = store.publish(release.feature, release.digest, release.id, release.canonical,
                                actor=actor, reason=reason)
            results.append({"feature": release.feature, "id": release.id,
                            "status": "new" if new else "unchanged"})
    if as_json:
        emit_json({"published": results})
        return
    for r in results:
        style = "green" if r["status"] == "new" else "dim"
        console.print(f"[{style}]{r['status']:<9}[/] {r['id']}")


@release_app.command("history")
@handle_errors
def history_cmd(
    feature: FeatureArg, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Channel moves (newest first), where each channel points now, and published releases."""
    proj = load_project_option(project)
    with open_store(proj) as store:
        releases = store.list_releases(feature)
        channels = store.list_channels(feature)
        moves = store.channel_history(feature)
    if not releases and not channels:
        raise RefError(f"feature {feature!r} has no published releases (run `release publish`)")
    if as_json:
        emit_json({
            "feature": feature,
            "channels": [record_json(c) for c in channels],
            "moves": [record_json(m) for m in moves],
            "releases": [
                {k: v for k, v in record_json(r).items() if k != "canonical"} for r in releases
            ],
        })
        return
    _print_history(channels, moves, releases)


@release_app.command("approve")
@handle_errors
def approve_cmd(
    feature: FeatureArg,
    ref: Annotated[str, typer.Argument(help="Release: id, channel, path or git revision.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an approval of a release (what a channel with `require: [approval]` needs).

    A release that is not published yet is published first (an approval names a release id)."""
    from rampway._reason import require_reason
    from rampway.release.protect import approve

    proj = load_project_option(project)
    actor = current_actor()
    with open_store(proj) as store:
        release = routable_release(proj, feature, ref, store)
        require_reason(reason, f"approving {release.id}")  # before publishing it
        store.publish(release.feature, release.digest, release.id, release.canonical, actor=actor,
                      reason=reason)
        approve(store, actor=actor, feature=feature, release_id=release.id, reason=reason)
    if as_json:
        emit_json({"release_id": release.id, "approved_by": actor})
        return
    console.print(f"approved [bold]{release.id}[/] (by {actor})")


@release_app.command("export")
@handle_errors
def export_cmd(
    feature: FeatureArg,
    ref: Annotated[str, typer.Argument(help="Release id or channel (e.g. one made through "
                                            "the admin API).")],
    out: Annotated[Path | None, typer.Option("--out", help="Directory (default: "
                                                            "releases/FEATURE).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the files already "
                                                         "there.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a stored release as repo files (release.yaml + prompts) to review it in git.

    The written files load back to the same release id, or nothing is written."""
    from rampway.release._export import export_release

    proj = load_project_option(project)
    release = resolve_one(proj, feature, ref)
    target = out if out is not None else proj.releases_dir / feature
    written = export_release(release, target, replace=force)
    if as_json:
        emit_json({"release_id": release.id, "directory": str(target),
                   "files": [str(p.relative_to(target)) for p in written]})
        return
    console.print(f"wrote {release.id} to {target} ({len(written)} file(s)); review with "
                  "`git diff`")


def _print_history(channels: list[Any], moves: list[Any], releases: list[Any]) -> None:
    """Plain lines rather than tables: ids and reasons must never be truncated."""
    for state in channels:
        console.print(f"[bold]{state.channel}[/] → {state.release_id} (version {state.version})")
    console.print("\n[bold]channel moves[/] (newest first)")
    for m in moves:
        console.print(
            f"{m.at:%Y-%m-%d %H:%M:%S}  {m.channel}  {m.kind:<8}  {m.from_release or '-'} → "
            f"{m.to_release}  by {m.actor}: {m.reason}",
            markup=False,
        )
    console.print("\n[bold]releases[/] (newest first)")
    for r in releases:
        console.print(f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.release_id}  by {r.created_by}",
                      markup=False)


__all__ = ["needs_store", "open_store", "record_json", "release_app", "resolve_one", "store_exists"]
