"""`rampway models …`: the model catalog, and a CI check for models about to go away.

    rampway models list [--provider sim] [--json]
    rampway models check [--within 90d] [--as-of 2027-01-01] [--json]   # exit 1 if any found

`check` looks at every release under `releases/` (primary model and every fallback) and lists
those whose model is deprecated or retires within the window, with the successor to move to; and
at every flag (`flags/*.yaml`, and the store's flags when a database exists) whose values name
such a model — a `.model` flag routes traffic as surely as a release does — or pins (a
`<feature>.release` rule still in force) a release on a model retiring in the window. It also
warns (without failing) when the release a production rollback would return to uses a model
that retires in the window (after that day the rollback lands on a model the provider no longer
serves), and when a pin's `request.date` bound has passed (it no longer applies: remove it).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rampway.cli import app
from rampway.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    emit_json,
    handle_errors,
    load_project_option,
)
from rampway.errors import ConfigError

if TYPE_CHECKING:  # the catalog loads pydantic + YAML: only the models commands pay for it
    from rampway.config import Project
    from rampway.lifecycle.flagmodels import Pin
    from rampway.providers.catalog import Catalog, ModelInfo, Sunset

models_app = typer.Typer(
    help="Model catalog: prices, context windows, deprecations.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

_WINDOW = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$")
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}


def parse_window(text: str) -> int:
    """'90d', '12w', '6m', '1y' or a plain number of days → days."""
    match = _WINDOW.match(text.lower())
    if match is None:
        raise ConfigError(f"--within: expected a duration like 90d, 12w, 6m or 1y, got {text!r}")
    return int(match.group(1)) * _UNIT_DAYS[match.group(2)]


def parse_day(text: str | None, option: str = "--as-of") -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option}: expected a date YYYY-MM-DD, got {text!r}") from None


def project_catalog(project: Project | None) -> Catalog:
    """Bundled catalog, with the project's `catalog:` overrides when there is a project."""
    from rampway.providers.catalog import Catalog

    return Catalog.load(project.config.catalog if project is not None else ())


def release_uses(project: Project, catalog: Catalog) -> list[tuple[str, str, ModelInfo]]:
    """(feature, role, model info) for every model every release may call."""
    from rampway.release import discover, load_release

    kinds = {name: cfg.kind for name, cfg in project.config.providers.items()}
    uses: list[tuple[str, str, ModelInfo]] = []
    for feature, directory in discover(project.root).items():
        release = load_release(directory)
        for index, (provider, model) in enumerate(release.models):
            try:
                info = catalog.resolve(provider, model, kinds.get(provider))
            except ConfigError as exc:
                raise ConfigError(f"release {feature}: {exc.message}") from None
            uses.append((feature, "primary" if index == 0 else "fallback", info))
    return uses


@models_app.command("list")
@handle_errors
def list_cmd(
    provider: Annotated[
        str | None, typer.Option("--provider", help="Only this provider's models.")
    ] = None,
    stale: Annotated[
        bool, typer.Option("--stale", help="Only say how old the bundled data is (exit 1 when "
                                           "older than 90 days).")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Today (YYYY-MM-DD), for --stale.")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every model in the catalog (bundled + rampway.yaml overrides) with prices per 1M tokens."""
    from rampway.providers.catalog import bundled_as_of

    proj = _optional_project(project)
    if stale:
        _stale(proj, parse_day(as_of), as_json)
        return
    catalog = project_catalog(proj)
    entries = [e for e in catalog if provider is None or e.provider == provider]
    if provider is not None and not entries:
        raise ConfigError(f"no models for provider {provider!r} in the catalog")
    if as_json:
        emit_json({"catalog_as_of": bundled_as_of().isoformat(),
                   "models": [e.to_json() for e in entries]})
        return
    _print_catalog(entries)


def _stale(proj: Project | None, today: dt.date, as_json: bool) -> None:
    """How old the bundled catalog is; exit 1 past STALE_AFTER_DAYS."""
    from rampway.providers.catalog import STALE_AFTER_DAYS, bundled_as_of, staleness

    as_of = bundled_as_of()
    message = staleness(as_of, today)
    overrides = 0 if proj is None else len(proj.config.catalog)
    if as_json:
        emit_json({"catalog_as_of": as_of.isoformat(), "age_days": (today - as_of).days,
                   "max_age_days": STALE_AFTER_DAYS, "stale": message is not None,
                   "overrides": overrides, "message": message})
    elif message is None:
        console.print(f"ok: the bundled model catalog is from {as_of} "
                      f"({(today - as_of).days} days old); rampway.yaml overrides {overrides} "
                      "entries", markup=False)
    else:
        console.print(f"stale: {message} (rampway.yaml overrides {overrides} entries now)",
                      markup=False, soft_wrap=True)
    if message is not None:
        raise typer.Exit(1)


@models_app.command("check")
@handle_errors
def check_cmd(
    within: Annotated[
        str, typer.Option("--within", help="Look-ahead window: 90d, 12w, 6m, 1y.")
    ] = "90d",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Check as of this date (default: today, UTC).")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Releases whose model or fallback is deprecated or retires within the window (exit 1)."""
    days, today = parse_window(within), parse_day(as_of)
    horizon = today + dt.timedelta(days=days)
    proj = load_project_option(project)
    catalog = project_catalog(proj)
    from rampway.providers.catalog import find_sunsets

    found = find_sunsets(release_uses(proj, catalog), today=today, horizon=horizon)
    named, pinned, expired = flag_uses(proj, catalog, today)
    in_flags = find_sunsets(named, today=today, horizon=horizon) + [
        s for s in find_sunsets(pinned, today=today, horizon=horizon) if s.status in RETIRING]
    rollbacks = [s for s in find_sunsets(rollback_uses(proj, catalog), today=today,
                                         horizon=horizon) if s.status in RETIRING]
    if as_json:
        emit_json(
            {
                "as_of": today.isoformat(),
                "within_days": days,
                "ok": not found and not in_flags,
                "findings": [s.to_json(today) for s in found],
                "flags": [_flag_json(s, today) for s in in_flags],
                "rollback_warnings": [_rollback_json(s, today) for s in rollbacks],
                "expired_pins": [{"flag": p.flag, "where": p.where, "release_id": p.release_id,
                                  "until": str(p.until)} for p in expired],
            }
        )
    else:
        _print_findings(found, today, days, bool(in_flags))
        _print_flag_findings(in_flags, today)
        for s in rollbacks:
            console.print(f"warning: {s.feature}: the rollback target {s.role.split()[-1]} "
                          f"uses {s.provider}/{s.model}, {s.status} {s.date}: after that a "
                          "rollback lands on a model the provider no longer serves",
                          markup=False)
        for p in expired:
            console.print(f"warning: {p.flag} {p.where}: the pin to {p.release_id} expired on "
                          f"{p.until} (the gateway no longer applies it): remove it",
                          markup=False)
    if found or in_flags:
        raise typer.Exit(1)


def flag_uses(
    project: Project, catalog: Catalog, today: dt.date
) -> tuple[list[tuple[str, str, ModelInfo]], list[tuple[str, str, ModelInfo]], list[Pin]]:
    """Models flags can serve (files and store): (named as values, in releases pinned by
    `<feature>.release` flags still in force on `today`), each as (flag key, where, model
    info); and the pins whose `request.date` bound has passed."""
    from rampway.cli.release import open_store, store_exists
    from rampway.flags import load_flag_files
    from rampway.flags.store import FlagStore, discover_flag_files
    from rampway.lifecycle.flagmodels import flag_model_uses, pinned_releases, release_pins

    kinds = {name: cfg.kind for name, cfg in project.config.providers.items()}
    flags = list(load_flag_files(discover_flag_files(project.root)).flags.values())
    pinned: list[tuple[str, str, ModelInfo]] = []
    if store_exists(project):
        with open_store(project) as store:
            flags += FlagStore(store).flagset().flags.values()
            for pin, release in pinned_releases(flags, store, today):
                for provider, model in release.models:
                    info = catalog.find(provider, model) or catalog.find(
                        kinds.get(provider, ""), model)
                    if info is not None and (pin.until is None or info.retirement_date is None
                                             or pin.until > info.retirement_date):
                        pinned.append((pin.flag, f"pins {pin.release_id}", info))
    expired = [p for p in release_pins(flags) if p.expired(today)]
    return flag_model_uses(flags, catalog, kinds), pinned, expired


RETIRING = ("retired", "retiring")


def rollback_uses(project: Project, catalog: Catalog) -> list[tuple[str, str, ModelInfo]]:
    """(feature, "rollback target <id>", model info) for each model of the release each
    feature's production channel would roll back to (none without a database)."""
    from rampway.cli.release import open_store, store_exists
    from rampway.release import Release
    from rampway.store import rollback_target

    if not store_exists(project):
        return []
    kinds = {name: cfg.kind for name, cfg in project.config.providers.items()}
    uses: list[tuple[str, str, ModelInfo]] = []
    with open_store(project) as store:
        for state in store.list_channels():
            if state.channel != "production":
                continue
            moves = store.channel_history(state.feature, "production", limit=1000)
            target = rollback_target((m.kind, m.to_release) for m in reversed(moves))
            if target is None:
                continue
            release = Release.from_canonical(store.get_release(state.feature, target).canonical)
            for provider, model in release.models:
                info = catalog.find(provider, model) or catalog.find(kinds.get(provider, ""),
                                                                     model)
                if info is not None:
                    uses.append((state.feature, f"rollback target {target}", info))
    return uses


def _rollback_json(found: Sunset, today: dt.date) -> dict[str, object]:
    data = found.to_json(today)
    return {"feature": data.pop("feature"), "rollback_target": data.pop("role").split()[-1],
            **data}


def _flag_json(found: Sunset, today: dt.date) -> dict[str, object]:
    data = found.to_json(today)
    return {"flag": data.pop("feature"), "where": data.pop("role"), **data}


def _optional_project(path: Path | None) -> Project | None:
    """`models list` works outside a project too (bundled catalog), unless --project was given."""
    try:
        return load_project_option(path)
    except ConfigError:
        if path is not None:
            raise
        return None


def _price(value: float | None) -> str:
    return "-" if value is None else f"${value:,.3f}".rstrip("0").rstrip(".")


def _columns(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns: readable in a terminal, greppable in CI logs, never truncated."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _print_catalog(entries: list[ModelInfo]) -> None:
    header = [
        "PROVIDER",
        "MODEL",
        "INPUT/1M",
        "CACHED/1M",
        "OUTPUT/1M",
        "CONTEXT",
        "DEPRECATED",
        "RETIRES",
        "SUCCESSOR",
    ]
    rows = [
        [
            e.provider,
            e.model,
            _price(e.input_per_mtok),
            _price(e.cached_input_per_mtok),
            _price(e.output_per_mtok),
            str(e.context_window),
            str(e.deprecation_date or "-"),
            str(e.retirement_date or "-"),
            e.successor or "-",
        ]
        for e in entries
    ]
    console.print(_columns(header, rows), markup=False)


def _print_flag_findings(found: list[Sunset], today: dt.date) -> None:
    if not found:
        return
    header = ["FLAG", "VALUE AT", "MODEL", "STATUS", "DATE", "DAYS", "SUCCESSOR"]
    rows = [
        [s.feature, s.role, f"{s.provider}/{s.model}", s.status, str(s.date),
         str((s.date - today).days), s.successor or "-"]
        for s in found
    ]
    console.print("\n" + _columns(header, rows), markup=False)
    console.print(f"{len(found)} flag value(s) name a model deprecated or retiring in the window")


def _print_findings(found: list[Sunset], today: dt.date, days: int, flags: bool = False) -> None:
    if not found:
        ok = "" if flags else "ok: "
        console.print(f"{ok}no release uses a model deprecated or retiring within {days} days")
        return
    header = ["FEATURE", "ROLE", "MODEL", "STATUS", "DATE", "DAYS", "SUCCESSOR"]
    rows = [
        [
            s.feature,
            s.role,
            f"{s.provider}/{s.model}",
            s.status,
            str(s.date),
            str((s.date - today).days),
            s.successor or "-",
        ]
        for s in found
    ]
    console.print(_columns(header, rows), markup=False)
    console.print(f"{len(found)} model use(s) deprecated or retiring within {days} days")


__all__ = ["models_app", "parse_window"]
