"""The shadow commands' bodies (`rampway.cli.shadow` registers them and imports this module
only when one runs: the store, the release code and YAML parsing stay out of `rampway --help`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    current_actor,
    emit_json,
    load_project_option,
)
from rampway.cli._refs import local_project, routable_release
from rampway.cli._remote import ServerOption, admin_client
from rampway.cli.release import open_store, store_exists
from rampway.config import Project
from rampway.errors import ConfigError, RefError
from rampway.shadow import repo
from rampway.shadow.pairs import load_pairs, request_excerpts
from rampway.shadow.spec import (
    SHADOWS_DIR,
    Definition,
    check_name,
    definition_names,
    definition_path,
    load_definition,
)
from rampway.shadow.views import brief_json, describe_state, status_json

if TYPE_CHECKING:
    from rampway.admin.client import AdminClient


NameArg = Annotated[str, typer.Argument(help="Shadow name: shadows/NAME.yaml.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _definition(proj: Project, name: str) -> Definition:
    return load_definition(definition_path(proj.root, check_name(name)))


def _never(name: str) -> RefError:
    return RefError(f"no shadow {check_name(name)!r} was ever started")


def validate_cmd(
    name: Annotated[str | None, typer.Argument(help="One shadow (default: all).")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check shadow files (feature, candidates, sample, condition, budget) without the store."""
    proj = load_project_option(project)
    names = [check_name(name)] if name is not None else definition_names(proj.root)
    if not names:
        raise ConfigError(f"no shadows in {proj.root / SHADOWS_DIR} (*.yaml)")
    checked = [(n, _definition(proj, n)) for n in names]
    if as_json:
        emit_json({"valid": True, "shadows": [{"name": n, **d.to_json()} for n, d in checked]})
        return
    for n, d in checked:
        console.print(f"[green]ok[/] {escape(n)}: {escape(d.feature)} → "
                      f"{escape(', '.join(d.candidates))}; sample {d.sample:g}%, "
                      f"twin {d.twin:g}%, budget ${d.budget.usd_per_day:g}/day and "
                      f"{d.budget.requests_per_s:g}/s")


def start_cmd(
    name: NameArg,
    reason: ReasonOption = "",
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start mirroring FEATURE's sampled requests to the candidates of shadows/NAME.yaml."""
    check_name(name)
    if server:
        with admin_client(server) as client:
            doc = _start_remote(client, name, reason, project)
        _report(doc, "started", as_json)
        return
    proj = load_project_option(project)
    definition = _definition(proj, name)
    if not store_exists(proj):  # refused before a database is created
        raise RefError(f"unknown feature {definition.feature!r}: no release of it was ever "
                       "published")
    doc = _start_local(proj, name, definition, reason.strip() or f"start shadow {name}")
    _report(doc, "started", as_json)


def _start_local(proj: Project, name: str, definition: Definition, reason: str) -> dict[str, Any]:
    actor, now = current_actor(), time.time()
    with open_store(proj) as store:
        repo.check_feature(store, definition.feature)
        releases = [routable_release(proj, definition.feature, ref, store)
                    for ref in definition.candidates]
        # everything that could refuse is checked before the first write (publishing)
        repo.check_candidates(store, definition.feature, [r.id for r in releases],
                              published=False)
        repo.check_can_start(store, name)
        repo.check_ends(definition, now)
        for release in releases:
            store.publish(release.feature, release.digest, release.id, release.canonical,
                          actor=actor, reason=f"shadow {name}")
        record = repo.start(store, name, definition, [r.id for r in releases], actor=actor,
                            reason=reason, now=now)
        return status_json(store, record, now)


def _start_remote(client: AdminClient, name: str, reason: str,
                  project: Path | None) -> dict[str, Any]:
    """The local definition (if any) with local release directories published first."""
    from rampway.release._refs import release_dir_for

    proj = local_project(project)
    if proj is None or not definition_path(proj.root, name).is_file():
        return client.start_shadow(name, None, reason=reason)
    definition = _definition(proj, name)
    candidates = []
    for ref in definition.candidates:
        if release_dir_for(proj, ref) is None and client.find_release(
                definition.feature, ref) is not None:
            candidates.append(ref)
            continue
        release = routable_release(proj, definition.feature, ref)
        client.publish_release(definition.feature, release.canonical, reason=f"shadow {name}")
        candidates.append(release.id)
    body = {**definition.to_json(), "candidates": candidates}
    return client.start_shadow(name, body, reason=reason)


def stop_cmd(
    name: NameArg,
    reason: ReasonOption = "",
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop mirroring in every gateway (within a second); the pairs stay for the report."""
    why = reason.strip() or f"stop shadow {check_name(name)}"
    if server:
        with admin_client(server) as client:
            doc = client.stop_shadow(name, reason=why)
        _report(doc, "stopped", as_json)
        return
    proj = load_project_option(project)
    if not store_exists(proj):
        raise _never(name)
    with open_store(proj) as store:
        record = repo.stop(store, repo.latest(store, name), actor=current_actor(), reason=why,
                           now=time.time())
        doc = status_json(store, record, time.time())
    _report(doc, "stopped", as_json)


def list_cmd(server: ServerOption = None, project: ProjectOption = None,
             as_json: JsonOption = False) -> None:
    """Shadows in the store (newest first), and the project's files never started."""
    defined: list[str] = []
    if server:
        with admin_client(server) as client:
            found = client.list_shadows()
        local = local_project(project)
        defined = [] if local is None else definition_names(local.root)
    else:
        proj = load_project_option(project)
        defined = definition_names(proj.root)
        found = []
        if store_exists(proj):
            with open_store(proj) as store:
                found = [brief_json(r) for r in repo.recent(store, limit=1000)]
    started = {d["name"] for d in found}
    never = [n for n in defined if n not in started]
    if as_json:
        emit_json({"shadows": found, "never_started": never})
        return
    if not found:
        console.print("no shadows started yet")
    else:
        table = Table()
        for column in ("id", "name", "feature", "status", "candidates", "sample", "started",
                       "stopped"):
            table.add_column(column)
        for d in found:
            table.add_row(str(d["id"]), d["name"], d["feature"], d["status"],
                          ", ".join(d["candidates"]), f"{d['sample_pct']:g}%",
                          d["started_at"][:19], (d["stopped_at"] or "")[:19])
        console.print(table)
    if never:
        console.print(f"never started: {escape(', '.join(never))}")


def status_cmd(name: NameArg, server: ServerOption = None, project: ProjectOption = None,
               as_json: JsonOption = False) -> None:
    """State (mirroring / over-budget / ended / stopped), spend today, pairs, not mirrored."""
    check_name(name)
    if server:
        with admin_client(server) as client:
            doc, _etag = client.shadow_status(name)
    else:
        proj = load_project_option(project)
        if not store_exists(proj):
            raise _never(name)
        with open_store(proj) as store:
            doc = status_json(store, repo.latest(store, name), time.time())
    if as_json:
        emit_json(doc)
        return
    _render_status(doc)


REPORT_FORMATS = ("text", "md", "json")


def report_cmd(name: str, fmt: str, out: Path | None, project: Path | None) -> None:
    """The latest shadow NAME's pairs, compared (rampway.shadow.report), in one format."""
    from rampway.shadow.report import build_report, render_markdown, render_text, similarity_of

    if fmt not in REPORT_FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
    check_name(name)
    proj = load_project_option(project)
    if not store_exists(proj):
        raise _never(name)
    with open_store(proj) as store:
        record = repo.latest(store, name)
        similarity = similarity_of(record)  # before reading pairs: a missing extra fails fast
        # prompts are read for the exemplars shown only, not for every pair
        report = build_report(load_pairs(store, name, excerpts=False), name=name,
                              shed=record.shed, over_budget=record.over_budget,
                              similarity=similarity,
                              excerpts=lambda ids: request_excerpts(store, name, ids))
    if fmt == "json":
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str) + "\n"
    else:
        text = render_markdown(report) if fmt == "md" else render_text(report)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from exc
    console.print(f"wrote {escape(str(out))}: {escape(report.verdict_line)}")


# -- output -----------------------------------------------------------------------------------


def _report(doc: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        emit_json(doc)
        return
    console.print(f"[bold]{escape(doc['name'])}#{doc['id']}[/] {what} on "
                  f"{escape(doc['feature'])}: → {escape(', '.join(doc['candidates']))}; "
                  f"sample {doc['sample_pct']:g}%, twin {doc['twin_pct']:g}%")


def _render_status(doc: dict[str, Any]) -> None:
    about = f" — {escape(doc['description'])}" if doc["description"] else ""
    console.print(f"[bold]{escape(doc['name'])}#{doc['id']}[/] {doc['state']} on "
                  f"{escape(doc['feature'])}{about}")
    console.print(escape(describe_state(doc)))
    table = Table(title="pairs")
    for column in ("kind", "release", "pairs", "errors", "cost (USD)"):
        table.add_column(column)
    for row in doc["by_release"]:
        table.add_row(row["kind"], row["release_id"], str(row["pairs"]), str(row["errors"]),
                      f"{row['cost_usd']:.4f}")
    console.print(table)
    skipped = doc["not_mirrored"]
    console.print(f"not mirrored: {skipped['shed']} shed (queue full), "
                  f"{skipped['over_budget']} over budget, {skipped['expired']} past the end")


__all__ = ["list_cmd", "report_cmd", "start_cmd", "status_cmd", "stop_cmd", "validate_cmd"]
