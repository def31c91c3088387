"""A command imports only its own command modules, and reads exactly as with all of them loaded.

`rampway.cli._lazy.MODULES` maps each top-level command to the modules that register it; a
command missing there (or listed with too few modules) would lose sub-commands when run alone,
so the map is checked against what the modules really register, and every command's `--help`
run lazily (a fresh `rampway NAME --help`) is compared with the same help built from every
module (what `rampway --help` loads).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.cli._lazy import MODULES, modules_for

SRC = Path(__file__).resolve().parents[2] / "src"
MARK = "=====8<====="

_LAZY = """
import runpy, sys
sys.argv = ["rampway", *sys.argv[1:]]
runpy.run_module("rampway", run_name="__main__")
"""

_FULL = """
import json, sys
import rampway.cli._register
from rampway.cli import app
for args in json.loads(sys.argv[1]):
    try:
        app(args, prog_name="rampway")
    except SystemExit:
        pass
    print(%r, flush=True)
""" % MARK

# leaf commands whose parameters are built only when their group is loaded lazily
LEAVES = [["flags", "set"], ["release", "validate"], ["models", "plan"], ["channel", "set"]]


def registered() -> dict[str, set[str]]:
    """Top-level command → the modules whose functions it runs (its own and its sub-commands)."""
    out: dict[str, set[str]] = {}
    for command in app.registered_commands:
        assert command.name and command.callback
        out.setdefault(command.name, set()).add(command.callback.__module__)
    for group in app.registered_groups:
        assert group.name and group.typer_instance
        subs = group.typer_instance.registered_commands
        out.setdefault(group.name, set()).update(c.callback.__module__ for c in subs
                                                 if c.callback)
    return out


def test_every_command_is_mapped_to_the_modules_that_register_it() -> None:
    found = registered()
    assert set(found) == set(MODULES)
    for name, modules in found.items():
        assert modules <= {f"rampway.cli.{m}" for m in MODULES[name]}, name


def test_help_no_command_and_unknown_commands_load_every_module() -> None:
    assert modules_for(["--help"]) is None
    assert modules_for([]) is None
    assert modules_for(["flgs", "set"]) is None
    assert modules_for(["--version"]) == ()
    assert modules_for(["flags", "set", "release"]) == ("flags",)
    assert modules_for(["--help", "models"]) is None  # the root's help, listing everything
    assert modules_for(["models", "--help"]) == MODULES["models"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWAY_")}
    env.update(PYTHONPATH=str(SRC), COLUMNS="100")
    return env


def test_each_command_reads_the_same_loaded_alone_or_with_all(tmp_path: Path) -> None:
    cases = [[name, "--help"] for name in sorted(MODULES)] + [[*leaf, "--help"]
                                                              for leaf in LEAVES]
    full = subprocess.run([sys.executable, "-c", _FULL, json.dumps(cases)], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=120, check=True)
    expected = full.stdout.split(MARK + "\n")
    for args, want in zip(cases, expected, strict=False):
        got = subprocess.run([sys.executable, "-c", _LAZY, *args], cwd=tmp_path, env=_env(),
                             capture_output=True, text=True, timeout=60, check=False)
        assert got.returncode == 0, got.stderr
        assert got.stdout == want, args
        assert "Usage: rampway" in got.stdout, args


def test_help_before_a_command_is_the_roots_help(tmp_path: Path) -> None:
    args = ["--help", "flags"]
    full = subprocess.run([sys.executable, "-c", _FULL, json.dumps([args])], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=60, check=True)
    got = subprocess.run([sys.executable, "-c", _LAZY, *args], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=60, check=True)
    assert got.stdout == full.stdout.split(MARK + "\n")[0]
    assert " release " in got.stdout and " rollout " in got.stdout


@pytest.mark.parametrize("args", [["flgs"], ["flags", "sett"], ["flags", "set"]])
def test_a_mistyped_command_fails_as_with_all_loaded(args: list[str], tmp_path: Path) -> None:
    full = subprocess.run([sys.executable, "-c", _FULL, json.dumps([args])], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=60, check=True)
    got = subprocess.run([sys.executable, "-c", _LAZY, *args], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 2
    assert got.stderr == full.stderr
    assert "Usage: rampway" in got.stderr
