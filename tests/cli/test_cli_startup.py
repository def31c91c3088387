"""The light commands start without the heavy machinery (issue #17: a CLI that feels instant).

Each command runs in a fresh interpreter (an import already made by another test would hide a
regression), and the modules it loaded are read from `sys.modules` at exit. bench/cli_startup.py
measures the resulting wall times.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
SRC = Path(__file__).resolve().parents[2] / "src"

# What the servers, the statistics and the admin API pull in; no light command needs any of it.
NEVER = {"fastapi", "starlette", "uvicorn", "scipy", "numpy", "httpx", "prometheus_client"}

_PROBE = """
import atexit, json, runpy, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["rampway", *sys.argv[1:]]
runpy.run_module("rampway", run_name="__main__")
"""


def loaded_by(args: list[str], cwd: Path) -> set[str]:
    """Top-level packages a `rampway ARGS` process imported; asserts it succeeded."""
    return {m.split(".")[0] for m in modules_of(args, cwd)}


def modules_of(args: list[str], cwd: Path) -> set[str]:
    """Every module a `rampway ARGS` process imported; asserts it succeeded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWAY_")}
    env.update(RAMPWAY_ACTOR="tester", PYTHONPATH=str(SRC))
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startup") / "support-bot"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway", "__pycache__"))
    (root / "kill.yaml").write_text("type: bool\ndefault: false\n")
    return root


def test_help_and_version_load_no_library_beyond_the_cli(example: Path) -> None:
    for args in (["--help"], ["--version"]):
        loaded = loaded_by(args, example)
        assert not loaded & (NEVER | {"sqlalchemy", "alembic", "pydantic", "jinja2", "yaml"}), args


def test_release_validate_loads_neither_store_nor_servers(example: Path) -> None:
    loaded = loaded_by(["release", "validate"], example)
    assert "pydantic" in loaded  # the probe sees what the command really did
    assert not loaded & (NEVER | {"sqlalchemy", "alembic"})


def test_flags_set_on_a_migrated_sqlite_store_skips_sqlalchemy(example: Path) -> None:
    from rampway.config import load_project
    from rampway.store import Store

    Store.open(load_project(example).db_url).close()  # created and migrated here, in-process
    # a flag no gate interlock judges is written with the stdlib (rampway.flags._sqlite_put)
    loaded = loaded_by(["flags", "set", "ops.kill", "--file", "kill.yaml", "--reason", "test"],
                       example)
    assert not loaded & (NEVER | {"sqlalchemy", "alembic"})
    # the other store commands open the store with SQLAlchemy, but not its PostgreSQL dialect
    # package (~0.1 s) on a SQLite store
    modules = modules_of(["flags", "delete", "ops.kill", "--reason", "t2"], example)
    assert "sqlalchemy.dialects.sqlite" in modules
    assert not {m.split(".")[0] for m in modules} & (NEVER | {"alembic"})
    assert "sqlalchemy.dialects.postgresql" not in modules


def test_flags_set_builds_only_its_own_commands_and_no_release_schema(example: Path) -> None:
    # typer builds click parameters for every command it knows, and `rampway.cli._lazy`
    # imports only the named command's module; the channels' releases are read for their
    # provider without Jinja or the pydantic release schema.
    from rampway.config import load_project
    from rampway.release import discover, load_release
    from rampway.store import Store

    with Store.open(load_project(example).db_url) as store:  # a channel whose release is read
        for feature, directory in discover(example).items():
            release = load_release(directory, feature=feature)
            store.publish(feature, release.digest, release.id, release.canonical, actor="t",
                          reason="test")
            store.set_channel(feature, "production", release.id, actor="t", reason="t")
    loaded = modules_of(["flags", "set", "ops.kill2", "--file", "kill.yaml", "--reason", "t"],
                        example)
    commands = {m for m in loaded if m.startswith("rampway.cli.") and
                not m.removeprefix("rampway.cli.").startswith("_")}
    assert commands == {"rampway.cli.flags"}
    assert "jinja2" not in {m.split(".")[0] for m in loaded}
    assert not {"rampway.release._spec", "rampway.release._release"} & loaded


def test_version_prints_the_package_version(example: Path) -> None:
    from rampway import __version__

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-m", "rampway", "--version"], cwd=example, env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == f"rampway {__version__}\n"


def test_gate_formats_match_the_report_module() -> None:
    # cli/gate.py keeps its own copy so that `--help` does not import the gate's statistics.
    from rampway.cli.gate import FORMATS
    from rampway.gate.report import FORMATS as REPORT_FORMATS

    assert FORMATS == REPORT_FORMATS

