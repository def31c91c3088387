"""`rampway sim models` and `rampway sim serve` (as a real subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)

runner = CliRunner()


def test_models_json_lists_the_default_models() -> None:
    result = runner.invoke(app, ["sim", "models", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = {r["model"]: r for r in doc["models"]}
    assert set(rows) == {"sim-large", "sim-small", "sim-large-2"}
    assert rows["sim-small"]["input_per_mtok"] == 0.15
    assert rows["sim-large-2"]["context_window"] == 200_000


def test_models_table() -> None:
    result = runner.invoke(app, ["sim", "models"])
    assert result.exit_code == 0 and "sim-small" in result.stdout


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "sim.yaml"
    bad.write_text("models:\n  sim-large:\n    faults: {rate_429: 3}\n")
    result = runner.invoke(app, ["sim", "models", "--config", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "rate_429" in lines[0]


def test_serve_rejects_bad_port() -> None:
    result = runner.invoke(app, ["sim", "serve", "--port", "70000"])
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def test_serve_answers_over_http(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("models:\n  sim-tiny:\n    quality: 0.3\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from rampway.cli import main; main()",
            "sim",
            "serve",
            "--port",
            "0",
            "--config",
            str(cfg),
            "--time-scale",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        base = f"http://127.0.0.1:{match.group(1)}"
        deadline = time.monotonic() + 10
        while True:
            try:
                models = httpx.get(base + "/v1/models").json()
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert [m["id"] for m in models["data"]][-1] == "sim-tiny"
        r = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "sim-tiny", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    finally:
        proc.terminate()
        proc.wait(10)
