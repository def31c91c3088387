"""`rampway models list|check` on a copy of the example project."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rampway.cli import app
from rampway.cli import models as _models  # noqa: F401  (attaches the commands)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".rampway", "*.db"))
    return dest


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_prints_the_catalog_with_prices(project: Path) -> None:
    code, out, _ = run("models", "list", "--project", str(project))
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("sim ") and " sim-large " in x)
    assert "$2.5" in line and "$10" in line and "128000" in line and "sim-large-2" in line


def test_list_json_is_one_document_and_includes_project_overrides(project: Path) -> None:
    config = project / "rampway.yaml"
    config.write_text(
        config.read_text()
        + "\ncatalog:\n  - {provider: sim, model: sim-small, input_per_mtok: 0.1}\n"
    )
    code, out, _ = run("models", "list", "--json", "--provider", "sim", "--project", str(project))
    assert code == 0
    models = {m["model"]: m for m in json.loads(out)["models"]}
    assert set(models) == {"sim-large", "sim-small", "sim-large-2"}
    assert models["sim-small"]["input_per_mtok"] == 0.1
    assert models["sim-large"]["deprecation_date"] == "2027-02-01"


def test_list_unknown_provider_is_one_line_error(project: Path) -> None:
    code, _, err = run("models", "list", "--provider", "nope", "--project", str(project))
    assert code == 2 and err.startswith("error: no models for provider 'nope'")
    assert len(err.strip().splitlines()) == 1


def test_check_lists_releases_on_a_deprecating_model_and_exits_1(project: Path) -> None:
    code, out, _ = run("models", "check", "--as-of", "2026-12-01", "--project", str(project))
    assert code == 1
    assert "sim/sim-large" in out and "deprecating" in out and "sim-large-2" in out
    assert "support-bot" in out and "extract-invoice" in out  # primary and fallback use


def test_check_json_reports_role_status_and_days_left(project: Path) -> None:
    code, out, _ = run(
        "models",
        "check",
        "--within",
        "90d",
        "--as-of",
        "2026-12-01",
        "--json",
        "--project",
        str(project),
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["within_days"] == 90
    roles = {(f["feature"], f["role"]) for f in doc["findings"]}
    assert roles == {("support-bot", "primary"), ("extract-invoice", "fallback")}
    assert all(f["days_left"] == 62 and f["successor"] == "sim-large-2" for f in doc["findings"])


def test_check_outside_the_window_passes(project: Path) -> None:
    code, out, _ = run(
        "models", "check", "--within", "4w", "--as-of", "2026-12-01", "--project", str(project)
    )
    assert code == 0 and out.startswith("ok:")


def test_check_after_retirement_reports_retired(project: Path) -> None:
    code, out, _ = run(
        "models", "check", "--as-of", "2027-06-01", "--json", "--project", str(project)
    )
    assert code == 1
    assert {f["status"] for f in json.loads(out)["findings"]} == {"retired"}


def test_check_sees_catalog_overrides_from_rampway_yaml(project: Path) -> None:
    config = project / "rampway.yaml"
    config.write_text(
        config.read_text()
        + "\ncatalog:\n  - {provider: sim, model: sim-large-2, retirement_date: 2027-01-15,"
        " successor: sim-large-3}\n"
        "  - {provider: sim, model: sim-large-3, input_per_mtok: 1, output_per_mtok: 2,"
        " context_window: 300000}\n"
    )
    code, out, _ = run(
        "models",
        "check",
        "--within",
        "30d",
        "--as-of",
        "2026-12-20",
        "--json",
        "--project",
        str(project),
    )
    assert code == 1
    found = json.loads(out)["findings"]
    assert {(f["model"], f["status"], f["successor"]) for f in found} == {
        ("sim-large-2", "retiring", "sim-large-3")
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--within", "soon"], "error: --within: expected a duration"),
        (["--as-of", "tomorrow"], "error: --as-of: expected a date"),
    ],
)
def test_check_bad_input_is_exit_2_with_one_line(
    project: Path, args: list[str], message: str
) -> None:
    code, _, err = run("models", "check", *args, "--project", str(project))
    assert code == 2 and err.startswith(message)


def test_check_names_a_release_whose_model_is_not_in_the_catalog(project: Path) -> None:
    release = project / "releases" / "support-bot" / "release.yaml"
    release.write_text(release.read_text().replace("model: sim-large\n", "model: sim-huge\n", 1))
    code, _, err = run("models", "check", "--project", str(project))
    assert code == 2
    assert "release support-bot: unknown model sim/sim-huge" in err


def test_check_reports_flags_whose_values_name_a_deprecating_model(project: Path) -> None:
    code, out, _ = run("models", "check", "--as-of", "2026-12-01", "--json", "--project",
                       str(project))
    assert code == 1
    flags = json.loads(out)["flags"]
    assert [(f["flag"], f["where"], f["model"], f["status"], f["successor"]) for f in flags] == [
        ("support-bot.model", "default", "sim-large", "deprecating", "sim-large-2")
    ]
    code, text, _ = run("models", "check", "--as-of", "2026-12-01", "--project", str(project))
    assert "support-bot.model" in text and "1 flag value(s) name a model" in text


def test_check_reports_flag_values_even_when_no_release_is_affected(project: Path) -> None:
    config = project / "rampway.yaml"
    config.write_text(config.read_text() + "\ncatalog:\n  - {provider: sim, model: sim-small,"
                      " deprecation_date: 2026-12-10, successor: sim-large-2}\n")
    for release in ("support-bot", "extract-invoice"):
        path = project / "releases" / release / "release.yaml"
        path.write_text(path.read_text().replace("fallbacks: [sim-small]", "fallbacks: []")
                        .replace("sim-large\n", "sim-large-2\n"))
    code, out, _ = run("models", "check", "--within", "30d", "--as-of", "2026-12-01",
                       "--json", "--project", str(project))
    doc = json.loads(out)
    assert code == 1 and doc["findings"] == [] and doc["ok"] is False
    found = {(f["flag"], f["where"]) for f in doc["flags"]}
    assert found == {("support-bot.model", "rules[0].value")}


def test_list_stale_says_how_old_the_bundled_data_is_and_how_to_override(project: Path) -> None:
    from rampway.providers.catalog import bundled_as_of

    as_of = bundled_as_of()
    fresh = (as_of + dt.timedelta(days=30)).isoformat()
    code, out, _ = run("models", "list", "--stale", "--as-of", fresh, "--project", str(project))
    assert code == 0 and out.startswith(f"ok: the bundled model catalog is from {as_of} (30 days")
    late = (as_of + dt.timedelta(days=120)).isoformat()
    code, out, _ = run("models", "list", "--stale", "--as-of", late, "--project", str(project))
    assert code == 1
    assert out.startswith(f"stale: the bundled model catalog is from {as_of} (120 days old, "
                          "more than 90)") and "under `catalog:` in rampway.yaml" in out
    code, out, _ = run("models", "list", "--stale", "--as-of", late, "--json", "--project",
                       str(project))
    doc = json.loads(out)
    assert (doc["catalog_as_of"], doc["age_days"], doc["stale"]) == (as_of.isoformat(), 120, True)
    code, out, _ = run("models", "list", "--json", "--project", str(project))
    assert json.loads(out)["catalog_as_of"] == as_of.isoformat()
