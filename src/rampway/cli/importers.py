"""`rampway import promptfoo CONFIG` — turn a promptfoo config into an eval suite.

    rampway import promptfoo promptfooconfig.yaml --feature support-bot
    # writes evals/support-bot/suite.yaml (+ the prompts, for your release) and lists
    # everything that could not be converted
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rampway.cli import app
from rampway.cli._common import JsonOption, console, emit_json, fail, handle_errors
from rampway.errors import ConfigError

import_app = typer.Typer(help="Import eval suites from other tools.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("promptfoo")
@handle_errors
def import_promptfoo(
    config: Annotated[Path, typer.Argument(help="promptfooconfig.yaml")],
    feature: Annotated[str, typer.Option("--feature", help="Feature the suite is for.")] = "",
    out: Annotated[
        Path | None, typer.Option("--out", help="Suite directory (default: evals/FEATURE).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing suite.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Convert a promptfoo config into evals/FEATURE/suite.yaml; list what didn't convert."""
    import yaml

    from rampway.evals._located import load_plain
    from rampway.evals.promptfoo import convert

    data = load_plain(config, str(config))
    if not isinstance(data, dict):
        raise ConfigError(f"{config}: a promptfoo config must be a YAML mapping")
    name = feature or config.resolve().parent.name
    target = out or Path("evals") / name
    suite_file = target / "suite.yaml"
    if suite_file.exists() and not force:
        fail(f"{suite_file} exists; pass --force to overwrite it")
    result = convert(data, config.name)
    result.suite["feature"] = name
    target.mkdir(parents=True, exist_ok=True)
    header = f"# Imported from {config.name} by `rampway import promptfoo`.\n"
    body = yaml.safe_dump(result.suite, sort_keys=False, allow_unicode=True)
    _write_checked(suite_file, header + body, name, check=bool(result.suite["cases"]))
    prompt_files = []
    for i, prompt in enumerate(result.prompts, start=1):
        path = target / f"promptfoo-prompt-{i}.j2"
        path.write_text(prompt)
        prompt_files.append(str(path))
    report = {
        "suite": str(suite_file),
        "cases": len(result.suite["cases"]),
        "scorers": sorted(result.suite["scorers"]),
        "prompts": prompt_files,
        "not_converted": result.not_converted,
    }
    if as_json:
        emit_json(report)
        return
    console.print(f"wrote {suite_file}: {report['cases']} cases, scorers {report['scorers']}")
    for saved in prompt_files:
        console.print(f"prompt saved to {saved} — use it as the user template of a release")
    if result.not_converted:
        console.print(f"not converted ({len(result.not_converted)}):")
        for note in result.not_converted:
            console.print(f"  - {note}", markup=False)


def _write_checked(path: Path, text: str, feature: str, *, check: bool) -> None:
    """Write the suite only if it loads (a temp file next to it is checked, then renamed)."""
    from rampway.evals.suite import load_suite

    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    try:
        if check:
            load_suite(temp, feature)
    except ConfigError:
        temp.unlink()
        raise
    temp.replace(path)
