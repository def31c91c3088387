"""`rampway import promptfoo CONFIG` — turn a promptfoo config into an eval suite.

    rampway import promptfoo promptfooconfig.yaml --feature support-bot
    rampway import promptfoo promptfooconfig.yaml --judge-model sim:sim-large --json
    # writes evals/support-bot/suite.yaml (+ the prompts, for your release) and lists
    # everything that could not be converted

`tests: file://…` (CSV, JSON, JSONL, YAML, globs) and `file://` prompts are read relative to
the config. `llm-rubric`s are graded by `--judge-model` (a catalog model, `provider:model`),
else by the config's grader when the catalog has it, else by promptfoo's default grader
(openai:gpt-4.1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rampway.cli import app
from rampway.cli._common import JsonOption, console, emit_json, fail, handle_errors
from rampway.errors import ConfigError

if TYPE_CHECKING:
    from rampway.providers.catalog import Catalog

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
    judge_model: Annotated[
        str | None,
        typer.Option("--judge-model", help="Catalog model grading llm-rubric, e.g. sim:sim-large "
                     "(default: the config's grader if in the catalog, else openai:gpt-4.1)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing suite.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Convert a promptfoo config into evals/FEATURE/suite.yaml; list what didn't convert."""
    import yaml

    from rampway.evals._located import load_plain
    from rampway.evals._promptfoo_files import read_files
    from rampway.evals.promptfoo import choose_judge, convert

    data = load_plain(config, str(config))
    if not isinstance(data, dict):
        raise ConfigError(f"{config}: a promptfoo config must be a YAML mapping")
    data, file_notes = read_files(data, config.parent)
    judge, why = choose_judge(data, judge_model, _catalog())
    name = feature or config.resolve().parent.name
    target = out or Path("evals") / name
    suite_file = target / "suite.yaml"
    if suite_file.exists() and not force:
        fail(f"{suite_file} exists; pass --force to overwrite it")
    result = convert(data, config.name, judge)
    result.suite["feature"] = name
    target.mkdir(parents=True, exist_ok=True)
    header = f"# Imported from {config.name} by `rampway import promptfoo`.\n"
    body = yaml.safe_dump(result.suite, sort_keys=False, allow_unicode=True)
    _write_checked(suite_file, header + body, name, check=bool(result.suite["cases"]))
    prompt_files = [_save_prompt(target, i, p) for i, p in enumerate(result.prompts, start=1)]
    judged = any(s["type"] == "judge" for s in result.suite["scorers"].values())
    report = {
        "suite": str(suite_file),
        "cases": len(result.suite["cases"]),
        "scorers": sorted(result.suite["scorers"]),
        "prompts": prompt_files,
        "judge": {"model": str(judge), "why": why} if judged else None,
        "not_converted": [*file_notes, *result.not_converted],
    }
    if as_json:
        emit_json(report)
        return
    _print(report)


def _catalog() -> Catalog:
    """The project's catalog (bundled + rampway.yaml overrides), or the bundled one outside a
    project: the judge must name a model the gate can price and route."""
    from rampway.config import find_project_root, load_project
    from rampway.providers.catalog import Catalog

    try:
        root = find_project_root(None)
    except ConfigError:
        return Catalog.bundled()
    return Catalog.load(load_project(root).config.catalog)


def _save_prompt(target: Path, index: int, prompt: Any) -> str:
    """Text prompts as Jinja templates (promptfoo's Nunjucks is close); chat prompts as JSON."""
    if isinstance(prompt, list):
        path = target / f"promptfoo-prompt-{index}.json"
        path.write_text(json.dumps(prompt, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        path = target / f"promptfoo-prompt-{index}.j2"
        path.write_text(str(prompt), encoding="utf-8")
    return str(path)


def _print(report: dict[str, Any]) -> None:
    console.print(f"wrote {report['suite']}: {report['cases']} cases, "
                  f"scorers {report['scorers']}", markup=False)
    if report["judge"]:
        console.print(f"rubrics graded by {report['judge']['model']} ({report['judge']['why']})",
                      markup=False)
    for saved in report["prompts"]:
        use = "messages of" if saved.endswith(".json") else "user template of"
        console.print(f"prompt saved to {saved} — use it as the {use} a release", markup=False)
    notes = report["not_converted"]
    if notes:
        console.print(f"not converted ({len(notes)}):")
        for note in notes:
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
