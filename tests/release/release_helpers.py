"""Plain helpers shared by the release tests (a uniquely named module, importable by tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

BASE_YAML = """\
# a small managed release
provider: sim
model: sim-large
params:
  temperature: 0.2
  max_tokens: 100
messages:
  system: prompts/system.md
  user: prompts/user.j2
variables:
  name:
    description: who we talk to
"""
BASE_FILES = {
    "prompts/system.md": "You help {{ name }}.\nBe brief.\n",
    "prompts/user.j2": "Question: {{ input }}\n",
}
CONFIG = """\
providers:
  sim: {kind: sim, base_url: "http://127.0.0.1:8900/v1"}
  other: {kind: openai, api_key_env: OTHER_KEY}
"""

WriteRelease = Callable[..., Path]


def write_release_dir(
    directory: Path, yaml_text: str = BASE_YAML, files: dict[str, str] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "release.yaml").write_text(yaml_text, encoding="utf-8")
    for rel, text in (BASE_FILES if files is None else files).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory
