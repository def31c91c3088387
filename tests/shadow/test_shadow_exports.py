"""The public surface, and a light import: the gateway loads running shadows on every reload."""

from __future__ import annotations

import subprocess
import sys

import rampway.shadow


def test_exports_are_what_we_mean() -> None:
    assert sorted(rampway.shadow.__all__) == sorted([
        "ActiveShadow", "ActiveShadows", "Answer", "Definition", "Pair", "PairKind",
        "ShadowRecord", "ToolUse", "load_definition", "load_pairs", "parse_definition",
    ])
    for name in rampway.shadow.__all__:
        assert getattr(rampway.shadow, name) is not None


def test_serving_and_the_shadow_cli_import_no_statistics_stack() -> None:
    code = ("import sys, rampway.shadow.capture, rampway.gateway.runtime, rampway.cli.shadow; "
            "print('scipy' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
