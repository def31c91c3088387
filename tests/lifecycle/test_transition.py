"""The transition window: a rollback target on a model that retires soon is warned about."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from lifecycle_helpers import make_project, publish_production
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.flags import load_flag_files
from rampway.flags.serving import evaluation_context
from rampway.gateway.call import CallInput
from rampway.lifecycle import plan_upgrade
from rampway.providers.catalog import Catalog
from rampway.store import Store


def test_check_warns_when_the_rollback_target_retires_in_the_window(
    tmp_path: Path, db_url: str
) -> None:
    proj = make_project(tmp_path / "p", db_url, "http://127.0.0.1:9")
    old = publish_production(proj)
    new = plan_upgrade(old, Catalog.bundled(), {"sim": "sim"}, today=dt.date(2027, 1, 10),
                       horizon=dt.date(2027, 4, 10)).candidate
    with Store.open(db_url) as store:
        store.publish("bot", new.digest, new.id, new.canonical, actor="test", reason="test")
        store.set_channel("bot", "production", new.id, actor="test", reason="upgrade")
    args = ["models", "check", "--as-of", "2027-03-01", "--within", "90d", "--project",
            str(proj.root)]
    doc = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert [(w["feature"], w["rollback_target"], w["model"], w["status"], w["date"])
            for w in doc["rollback_warnings"]] == [
        ("bot", old.id, "sim-large", "retiring", "2027-05-01")]
    text = CliRunner().invoke(app, args).stdout
    assert (f"warning: bot: the rollback target {old.id} uses sim/sim-large, retiring "
            "2027-05-01") in text
    quiet = CliRunner().invoke(app, [*args[:-4], "--within", "30d", "--json", "--project",
                                     str(proj.root)])
    assert json.loads(quiet.stdout)["rollback_warnings"] == []


def test_upgrade_writes_an_opt_out_pin_that_ends_at_retirement_then_check_says_expired(
    tmp_path: Path, db_url: str
) -> None:
    proj = make_project(tmp_path / "p", db_url, "http://127.0.0.1:9")
    old = publish_production(proj)
    made = CliRunner().invoke(app, ["models", "upgrade", "bot", "--no-gate", "--opt-out", "u-1",
                                    "--opt-out", "u-2", "--as-of", "2027-01-10", "--project",
                                    str(proj.root)])
    assert made.exit_code == 0, made.output
    pin = proj.root / "upgrades" / "bot" / "transition-flags.yaml"
    flagset = load_flag_files([pin])
    flag = flagset.flags["bot.release"]
    assert flag.rules[0].value == old.id and flag.default == "production"
    assert flag.rules[0].condition == {"request.date": {"$lt": "2027-05-01"}}
    assert ("The pin applies until 2027-05-01 (exclusive), then those units follow production "
            "too; sim/sim-large retires on 2027-05-01") in pin.read_text()

    def served(unit: str, day: dt.date) -> object:
        call = CallInput("bot", [], unit=unit)
        return flagset.evaluate("bot.release", evaluation_context(call, day), unit).value

    assert served("u-1", dt.date(2027, 4, 30)) == old.id  # the gateway's own context
    assert served("u-1", dt.date(2027, 5, 1)) == "production"
    assert served("u-3", dt.date(2027, 4, 30)) == "production"
    (proj.root / "flags").mkdir()
    shutil.copy(pin, proj.root / "flags" / "bot.yaml")
    pushed = CliRunner().invoke(app, ["flags", "push", "--project", str(proj.root)])
    assert pushed.exit_code == 0, pushed.output
    (proj.root / "flags" / "bot.yaml").unlink()  # the pin now lives in the store only

    def check(as_of: str) -> dict[str, Any]:
        result = CliRunner().invoke(app, ["models", "check", "--as-of", as_of, "--within", "30d",
                                          "--json", "--project", str(proj.root)])
        return dict(json.loads(result.stdout))

    # before its end the pin never routes to a retired model: nothing to report
    assert check("2027-04-15")["flags"] == check("2027-04-15")["expired_pins"] == []
    after = check("2027-05-02")
    assert after["flags"] == [] and after["expired_pins"] == [
        {"flag": "bot.release", "where": "rules[0]", "release_id": old.id,
         "until": "2027-05-01"}]
    text = CliRunner().invoke(app, ["models", "check", "--as-of", "2027-05-02", "--project",
                                    str(proj.root)]).stdout
    assert (f"warning: bot.release rules[0]: the pin to {old.id} expired on 2027-05-01 (the "
            "gateway no longer applies it): remove it") in text


def test_a_pin_without_end_is_reported_when_its_model_retires(
    tmp_path: Path, db_url: str
) -> None:
    proj = make_project(tmp_path / "p", db_url, "http://127.0.0.1:9")
    old = publish_production(proj)
    (proj.root / "flags").mkdir()
    (proj.root / "flags" / "bot.yaml").write_text(yaml.safe_dump({"flags": {"bot.release": {
        "type": "string", "default": "production",
        "rules": [{"condition": {"plan": "legacy"}, "value": old.id}]}}}))
    result = CliRunner().invoke(app, ["flags", "push", "--project", str(proj.root)])
    assert result.exit_code == 0, result.output
    (proj.root / "flags" / "bot.yaml").unlink()
    checked = CliRunner().invoke(app, ["models", "check", "--as-of", "2027-04-15", "--within",
                                       "30d", "--json", "--project", str(proj.root)])
    assert checked.exit_code == 1
    assert [(f["flag"], f["where"], f["status"]) for f in json.loads(checked.stdout)["flags"]] == [
        ("bot.release", f"pins {old.id}", "retiring")]


@pytest.mark.parametrize(("until", "message"), [
    ("2027-06-01", "--pin-until 2027-06-01: sim/sim-large retires on 2027-05-01"),
    ("someday", "--pin-until: expected a date YYYY-MM-DD"),
])
def test_bad_pin_until_is_one_line_exit_2(tmp_path: Path, until: str, message: str) -> None:
    proj = make_project(tmp_path / "p", f"sqlite:///{tmp_path / 'db.sqlite'}",
                        "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["models", "upgrade", "bot", "--no-gate", "--opt-out", "u-1",
                                      "--pin-until", until, "--as-of", "2027-01-10", "--project",
                                      str(proj.root)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (proj.root / "upgrades").exists()
