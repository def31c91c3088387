"""The transition window: a rollback target on a model that retires soon is warned about."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from lifecycle_helpers import make_project, publish_production
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.flags import load_flag_files
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
        store.publish("bot", new.digest, new.id, new.canonical, actor="test")
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


def test_upgrade_writes_an_opt_out_pin_that_check_follows_until_retirement(
    tmp_path: Path, db_url: str
) -> None:
    proj = make_project(tmp_path / "p", db_url, "http://127.0.0.1:9")
    old = publish_production(proj)
    made = CliRunner().invoke(app, ["models", "upgrade", "bot", "--no-gate", "--opt-out", "u-1",
                                    "--opt-out", "u-2", "--as-of", "2027-01-10", "--project",
                                    str(proj.root)])
    assert made.exit_code == 0, made.output
    pin = proj.root / "upgrades" / "bot" / "transition-flags.yaml"
    flags = load_flag_files([pin]).flags
    rule = flags["bot.release"].rules[0]
    assert rule.value == old.id and flags["bot.release"].default == "production"
    assert "sim/sim-large retires on 2027-05-01: remove the pin before then" in pin.read_text()
    (proj.root / "flags").mkdir()
    shutil.copy(pin, proj.root / "flags" / "bot.yaml")
    pushed = CliRunner().invoke(app, ["flags", "push", "--project", str(proj.root)])
    assert pushed.exit_code == 0, pushed.output
    (proj.root / "flags" / "bot.yaml").unlink()  # the pin now lives in the store only

    def check(as_of: str) -> list[tuple[str, str, str]]:
        result = CliRunner().invoke(app, ["models", "check", "--as-of", as_of, "--within", "30d",
                                          "--json", "--project", str(proj.root)])
        return [(f["flag"], f["where"], f["status"]) for f in json.loads(result.stdout)["flags"]]

    assert check("2027-02-15") == []  # deprecated, but a pin is fine until retirement nears
    assert check("2027-04-15") == [("bot.release", f"pins {old.id}", "retiring")]
