"""Import only the command modules the command line names, so typer builds only their commands.

Typer turns every registered command into click parameters (from signatures and type hints)
before it parses anything: with every module imported, `rampway flags set` paid for all 60-odd
commands (~0.1 s) and for their modules' imports. Click's documented answer is a lazy group
(sub-commands imported on first use); the root here takes no option with a value, so the first
argument that is not an option *is* the command name, and importing its modules before typer
builds the group has the same effect without reaching into typer's internals:

    rampway flags set k --file f.yaml   → imports rampway.cli.flags only
    rampway --help, rampway, rampway nope → imports every module (`_register`), so the command
                                           list and "No such command" read exactly as before

`tests/cli/test_cli_lazy.py` checks that `MODULES` names every top-level command with the
modules that add to it, and that each command's `--help` is the same loaded lazily or fully.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

# top-level command → the modules under rampway.cli that register it or add sub-commands to it
MODULES: dict[str, tuple[str, ...]] = {
    "api-keys": ("admin",),
    "channel": ("channel",),
    "rollback": ("channel",),
    "controller": ("rollout",),
    "doctor": ("doctor",),
    "eval": ("eval",),
    "events": ("events",),
    "experiment": ("experiment",),
    "flags": ("flags",),
    "gate": ("gate",),
    "import": ("importers",),
    "init": ("init",),
    "keys": ("serve",),
    "models": ("models", "models_drift", "models_plan", "models_upgrade"),
    "release": ("release",),
    "rollout": ("rollout",),
    "serve": ("serve",),
    "shadow": ("shadow",),
    "sim": ("sim",),
    "timeline": ("timeline",),
}


def modules_for(args: Sequence[str]) -> tuple[str, ...] | None:
    """The modules `rampway ARGS` needs; None for every module (help, no command, unknown).

    `--version` alone needs none: its eager callback prints and exits before any command.
    `--help` before the command is the root's help, which lists every command."""
    position = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if position is None:
        return () if args and all(a == "--version" for a in args) else None
    if "--help" in args[:position]:
        return None
    return MODULES.get(args[position])


def attach(args: Sequence[str]) -> None:
    """Import what `rampway ARGS` runs (its modules register their commands on the root app)."""
    names = modules_for(args)
    if names is None:
        importlib.import_module("rampway.cli._register")
        return
    for name in names:
        importlib.import_module(f"rampway.cli.{name}")
