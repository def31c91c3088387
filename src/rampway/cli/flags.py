"""`rampway flags …`: validate and push `flags/*.yaml`, inspect and change flags and segments.

    rampway flags validate [FILE …]              # default: flags/*.yaml of the project
    rampway flags push [--dry-run] [--force]     # make the store match the files
    rampway flags list [--segments]
    rampway flags show KEY [--segment]
    rampway flags set KEY --file def.yaml [--expected-version N] --reason "…"
    rampway flags set support-bot.model --definition '{"type": "string", "default": "sim-small"}' \
        --skip-gate --reason "…"               # a model swap without its gate PASS, audited
    rampway flags delete KEY [--segment] --reason "…"
    rampway flags eval KEY --context '{"plan": "free"}' --unit user-42

Every command but `validate` and `eval` takes `--server URL` to go through a running server's
admin API (key in $RAMPWAY_API_KEY) instead of the store. Precedence between files and API
edits (a push never silently undoes an API edit) is explained in `rampway.flags.store`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from rampway._reason import require_reason
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
from rampway.cli._remote import ServerOption, admin_client
from rampway.errors import ConfigError, RefError

if TYPE_CHECKING:
    from rampway.flags.store import FlagStore
    from rampway.release._routable import Routing
    from rampway.store import Store

flags_app = typer.Typer(help="Feature flags and segments.", no_args_is_help=True)
app.add_typer(flags_app, name="flags")

KeyArg = Annotated[str, typer.Argument(help="Flag key (or segment key with --segment).")]
SegmentOption = Annotated[bool, typer.Option("--segment", help="Act on a segment, not a flag.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
VersionOption = Annotated[
    int | None,
    typer.Option("--expected-version", help="Fail if the stored version is not this one."),
]


class Backend(Protocol):
    """Where definitions live: the store directly, or a server's admin API."""

    def list(self, kind: str) -> list[dict[str, Any]]: ...
    def get(self, kind: str, key: str) -> dict[str, Any]: ...
    def put(self, kind: str, key: str, definition: Any, reason: str,
            version: int | None, skip_gate: bool = False) -> dict[str, Any]: ...
    def delete(self, kind: str, key: str, reason: str, version: int | None) -> dict[str, Any]: ...
    def push(self, files: Any, reason: str, force: bool, dry_run: bool,
             skip_gate: bool = False) -> dict[str, Any]: ...
    def close(self) -> None: ...


class StoreBackend:
    """The project's store, opened (with SQLAlchemy) on first use: a plain flag write on the
    embedded SQLite store takes the light road instead (`rampway.flags._sqlite_put`)."""

    def __init__(self, project: Path | None) -> None:
        self._project = load_project_option(project)
        self._actor = current_actor()
        self._opened: tuple[Store, FlagStore] | None = None

    @property
    def _flags(self) -> FlagStore:
        if self._opened is None:
            from rampway.flags.store import FlagStore
            from rampway.store import Store

            store = Store.open(self._project.db_url)
            self._opened = (store, FlagStore(store, project=self._project))
        return self._opened[1]

    def list(self, kind: str) -> list[dict[str, Any]]:
        return [r.to_json() for r in self._flags.list(_kind(kind))]

    def get(self, kind: str, key: str) -> dict[str, Any]:
        rec = self._flags.get(_kind(kind), key)
        if rec is None:
            raise RefError(f"no {kind} '{key}'")
        return rec.to_json()

    def put(self, kind: str, key: str, definition: Any, reason: str,
            version: int | None, skip_gate: bool = False) -> dict[str, Any]:
        from rampway.flags._sqlite_put import put_if_plain, sqlite_path

        path = sqlite_path(self._project.root, self._project.config.database.url)
        if path is not None:
            record = put_if_plain(path, _kind(kind), key, definition, actor=self._actor,
                                  reason=reason, expected_version=version, routing=self._routing)
            if record is not None:
                return record.to_json()
        return self._flags.put(_kind(kind), key, definition, actor=self._actor, reason=reason,
                               expected_version=version, skip_gate=skip_gate).to_json()

    def _routing(self) -> Routing:
        """What `FlagStore.routing` is for this project."""
        from rampway.release._routable import Routing

        return Routing.of(self._project)

    def delete(self, kind: str, key: str, reason: str, version: int | None) -> dict[str, Any]:
        return self._flags.delete(_kind(kind), key, actor=self._actor, reason=reason,
                                  expected_version=version).to_json()

    def push(self, files: Any, reason: str, force: bool, dry_run: bool,
             skip_gate: bool = False) -> dict[str, Any]:
        return self._flags.push(files, actor=self._actor, reason=reason, force=force,
                                dry_run=dry_run, skip_gate=skip_gate).to_json()

    def close(self) -> None:
        if self._opened is not None:
            self._opened[0].close()


class ServerBackend:
    def __init__(self, server: str) -> None:
        self._client = admin_client(server)

    def list(self, kind: str) -> list[dict[str, Any]]:
        return self._client.list_definitions(kind)

    def get(self, kind: str, key: str) -> dict[str, Any]:
        return self._client.get_definition(kind, key)[0]

    def put(self, kind: str, key: str, definition: Any, reason: str,
            version: int | None, skip_gate: bool = False) -> dict[str, Any]:
        return self._client.put_definition(kind, key, definition, reason=reason,
                                           if_match=_etag(version), skip_gate=skip_gate)

    def delete(self, kind: str, key: str, reason: str, version: int | None) -> dict[str, Any]:
        return self._client.delete_definition(kind, key, reason=reason, if_match=_etag(version))

    def push(self, files: Any, reason: str, force: bool, dry_run: bool,
             skip_gate: bool = False) -> dict[str, Any]:
        definitions = [
            {"kind": kind, "key": key, "definition": spec, "file": file}
            for (kind, key), (spec, file) in sorted(files.items.items())
        ]
        return self._client.push(definitions, reason=reason, force=force, dry_run=dry_run,
                                 skip_gate=skip_gate)

    def close(self) -> None:
        self._client.close()


def _etag(version: int | None) -> str | None:
    return None if version is None else f'"{version}"'


def _kind(kind: str) -> Any:
    if kind not in ("flag", "segment"):
        raise ConfigError(f"unknown kind {kind!r}")
    return kind


def backend(server: str | None, project: Path | None) -> Backend:
    return ServerBackend(server) if server else StoreBackend(project)


def flag_files(project: Path | None, files: list[Path] | None) -> list[Path]:
    """The files given, else the project's flags/*.yaml (ConfigError when there are none)."""
    from rampway.flags.store import discover_flag_files

    if files:
        return files
    root = load_project_option(project).root
    found = discover_flag_files(root)
    if not found:
        raise ConfigError(f"no flag files: {root / 'flags'} has no *.yaml")
    return found


def routing_check(project: Path | None) -> Callable[[Any], None] | None:
    """The model-routability check for flag files, against the project's providers, catalog
    and working-tree releases (`rampway.flags.routable`); None without a project."""
    from rampway.flags.routable import check_model_flags
    from rampway.release import Routing, discover, load_release

    try:
        proj = load_project_option(project)
    except ConfigError:
        return None
    routing = Routing.of(proj)
    providers: dict[str, set[str]] = {}
    for feature, directory in discover(proj.root).items():
        try:
            providers[feature] = {load_release(directory, feature=feature).models[0][0]}
        except ConfigError:
            continue  # `rampway release validate` reports a broken release
    return lambda fs: check_model_flags(fs.flags.values(), routing, providers)


def _relative(files: list[Path], project: Path | None) -> list[Path]:
    """Paths as the repo names them (relative to the project root when inside it)."""
    try:
        root = load_project_option(project).root.resolve()
    except ConfigError:
        return files
    out = []
    for f in files:
        try:
            out.append(f.resolve().relative_to(root))
        except ValueError:
            out.append(f)
    return out


# -- commands -------------------------------------------------------------------------------------


@flags_app.command("validate")
@handle_errors
def validate_cmd(
    files: Annotated[list[Path] | None, typer.Argument(help="Flag files (default flags/*.yaml).")
                     ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check flag files together: every error names file:line; exit 2 on the first one.

    Inside a project, `.model` flag values must be models the gateway can route."""
    from rampway.flags import load_flag_files

    paths = flag_files(project, files)
    fs = load_flag_files(paths, routing_check(project))
    out = {"files": [str(p) for p in paths], "flags": sorted(fs.flags),
           "segments": sorted(fs.segments)}
    if as_json:
        emit_json(out)
        return
    console.print(f"{len(out['flags'])} flag(s), {len(out['segments'])} segment(s) valid "
                  f"in {len(paths)} file(s)")


@flags_app.command("push")
@handle_errors
def push_cmd(
    files: Annotated[list[Path] | None, typer.Argument(help="Flag files (default flags/*.yaml).")
                     ] = None,
    reason: ReasonOption = "flags push",
    force: Annotated[bool, typer.Option("--force", help="Overwrite flags changed through the "
                                                        "API since the last push.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change.")] = False,
    skip_gate: Annotated[bool, typer.Option(
        "--skip-gate", help="Let changed `.model` flags serve models production's release has "
        "no gate PASS with (audited with --reason; an admin key with --server).")] = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make the stored flags match the files (all or nothing); running gateways follow < 1 s."""
    from rampway.flags import load_flag_files
    from rampway.flags.store import FileDefinitions, read_flag_files

    paths = flag_files(project, files)
    load_flag_files(paths, routing_check(project))  # file:line for an unroutable model first
    read = read_flag_files(paths)
    names = dict(zip([str(p) for p in paths], [str(p) for p in _relative(paths, project)],
                     strict=True))
    files_def = FileDefinitions({k: (spec, names.get(f, f)) for k, (spec, f) in read.items.items()})
    be = backend(server, project)
    try:
        report = be.push(files_def, reason, force, dry_run, skip_gate)
    finally:
        be.close()
    if as_json:
        emit_json(report)
        return
    verb = "would be" if dry_run else ""
    for label in ("created", "updated", "deleted", "overwritten"):
        for name in report[label]:
            console.print(f"{label} {verb} {name}".replace("  ", " "), markup=False)
    if not any(report[k] for k in ("created", "updated", "deleted")):
        console.print(f"nothing to change ({len(report['unchanged'])} definition(s) up to date)")


@flags_app.command("list")
@handle_errors
def list_cmd(
    segments: Annotated[bool, typer.Option("--segments", help="List segments instead.")] = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stored flags (or segments) with their version and where they came from."""
    kind = "segment" if segments else "flag"
    be = backend(server, project)
    try:
        records = be.list(kind)
    finally:
        be.close()
    if as_json:
        emit_json({f"{kind}s": records})
        return
    if not records:
        console.print(f"no {kind}s")
    for rec in records:
        ftype = rec["definition"].get("type", "")
        console.print(f"[bold]{rec['key']}[/] {ftype} v{rec['version']} ({rec['source']})")


@flags_app.command("show")
@handle_errors
def show_cmd(
    key: KeyArg,
    segment: SegmentOption = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """One stored definition with its version (use it as --expected-version)."""
    be = backend(server, project)
    try:
        rec = be.get("segment" if segment else "flag", key)
    finally:
        be.close()
    if as_json:
        emit_json(rec)
        return
    console.print(f"[bold]{rec['key']}[/] version {rec['version']} ({rec['source']}, "
                  f"by {rec['updated_by']})")
    console.print(json.dumps(rec["definition"], indent=2), markup=False)


@flags_app.command("set")
@handle_errors
def set_cmd(
    key: KeyArg,
    file: Annotated[Path | None, typer.Option("--file", help="YAML/JSON file with the "
                                                              "definition.")] = None,
    definition: Annotated[str | None, typer.Option("--definition", help="The definition as "
                                                                          "JSON.")] = None,
    segment: SegmentOption = False,
    reason: ReasonOption = "",
    expected_version: VersionOption = None,
    skip_gate: Annotated[bool, typer.Option(
        "--skip-gate", help="Let a `.model` flag serve a model production's release has no "
        "gate PASS with (audited with --reason; an admin key with --server).")] = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or replace one definition (refused whole if the flag set would not compile).

    A `.release` pin or a `.model` flag may serve only what production could be moved to (its
    gate PASS); `--skip-gate` overrides that for a `.model` flag, audited. --reason is required.
    """
    spec = _definition_arg(file, definition)
    require_reason(reason, f"writing {key}")  # before any connection: nothing to open for it
    be = backend(server, project)
    try:
        rec = be.put("segment" if segment else "flag", key, spec, reason, expected_version,
                     skip_gate)
    finally:
        be.close()
    if as_json:
        emit_json(rec)
        return
    console.print(f"[bold]{rec['key']}[/] is now version {rec['version']}")


def _definition_arg(file: Path | None, definition: str | None) -> Any:
    import yaml

    if (file is None) == (definition is None):
        raise ConfigError("give the definition with exactly one of --file or --definition")
    try:
        text = file.read_text(encoding="utf-8") if file is not None else definition or ""
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the definition is not valid YAML/JSON: {exc}") from exc


@flags_app.command("delete")
@handle_errors
def delete_cmd(
    key: KeyArg,
    segment: SegmentOption = False,
    reason: ReasonOption = "",
    expected_version: VersionOption = None,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete one definition (refused while other flags still use a segment)."""
    require_reason(reason, f"deleting {key}")
    be = backend(server, project)
    try:
        rec = be.delete("segment" if segment else "flag", key, reason, expected_version)
    finally:
        be.close()
    if as_json:
        emit_json({"deleted": rec})
        return
    console.print(f"deleted [bold]{key}[/] (was version {rec['version']})")


@flags_app.command("eval")
@handle_errors
def eval_cmd(
    key: KeyArg,
    context: Annotated[str, typer.Option("--context", help="Attributes as a JSON object.")
                       ] = "{}",
    unit: Annotated[str | None, typer.Option("--unit", help="Unit (user/session id).")] = None,
    files: Annotated[list[Path] | None, typer.Option("--file", help="Evaluate these flag files "
                                                                    "instead of the store.")
                     ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a flag as the gateway would for a context (request shape under `request.`)."""
    try:
        ctx = json.loads(context)
    except ValueError as exc:
        raise ConfigError(f"--context is not valid JSON: {exc}") from exc
    if not isinstance(ctx, dict):
        raise ConfigError("--context must be a JSON object")
    result = _flagset(files, project).evaluate(key, ctx, unit)
    if result.error_code is not None:  # one line on stderr, exit 2 — with --json too
        raise RefError(result.error_message or result.error_code.value)
    out = {"key": key, "value": result.value, "variant": result.variant,
           "reason": result.reason.value,
           "error_code": None if result.error_code is None else result.error_code.value,
           "error_message": result.error_message, "rule_index": result.rule_index}
    if as_json:
        emit_json(out)
        return
    console.print(f"{json.dumps(result.value)}  ({result.reason.value}"
                  + (f", rule {result.rule_index}" if result.rule_index is not None else "")
                  + ")", markup=False)


def _flagset(files: list[Path] | None, project: Path | None) -> Any:
    if files:  # files alone need no database (nor SQLAlchemy)
        from rampway.flags import load_flag_files

        return load_flag_files(files)
    from rampway.flags.store import FlagStore
    from rampway.store import Store

    with Store.open(load_project_option(project).db_url) as store:
        return FlagStore(store).flagset()


__all__ = ["flags_app"]
