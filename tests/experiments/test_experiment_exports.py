"""The public surface, and a light import: the gateway loads experiments on every start."""

from __future__ import annotations

import subprocess
import sys

import rampway.experiments


def test_exports_are_what_we_mean() -> None:
    assert sorted(rampway.experiments.__all__) == sorted([
        "ActiveExperiments", "Arm", "Definition", "ExperimentAllocation", "ExperimentRecord",
        "Guardrail", "load_definition", "parse_definition",
    ])
    for name in rampway.experiments.__all__:
        assert getattr(rampway.experiments, name) is not None


def test_serving_and_the_experiment_cli_import_no_statistics_stack() -> None:
    """The gateway (snapshot + resolver) and `rampway experiment start|stop|status` never need
    numpy/scipy; only `analyze` does."""
    code = ("import sys, rampway.experiments, rampway.gateway.control, "
            "rampway.gateway.resolve, rampway.cli.experiment; "
            "print('scipy' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
