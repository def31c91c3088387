"""Routability: a release (and its fallbacks) may only name models the gateway can route."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import write_release_dir

from rampway.config import load_project
from rampway.errors import UnroutableRelease
from rampway.providers.catalog import Catalog
from rampway.release import Routing, check_release, load_checked

VLLM_CONFIG = """\
providers:
  sim: {kind: sim, base_url: "http://127.0.0.1:8900/v1"}
  vllm: {kind: openai, base_url: "http://10.0.0.5:8000/v1"}
"""
VLLM_RELEASE = """\
provider: vllm
model: llama-3.1-8b
fallbacks: [sim/sim-small]
messages:
  system: prompts/system.md
  user: prompts/user.j2
variables:
  name: {}
"""


def routing() -> Routing:
    return Routing({"sim": "sim", "vllm": "openai", "eu": "openai"}, Catalog.load())


def test_bundled_model_routes_under_the_provider_kind() -> None:
    r = routing()
    assert r.problem("sim", "sim-large") is None
    assert r.problem("eu", "gpt-4o-mini") is None  # keyed by kind `openai`


def test_a_typo_names_the_model_and_suggests_the_close_one() -> None:
    problem = routing().problem("sim", "sim-lrage")
    assert problem is not None
    assert "sim/sim-lrage has no catalog entry" in problem
    assert "did you mean sim-large?" in problem and "`catalog:`" in problem


def test_an_unconfigured_provider_is_named_with_the_configured_ones() -> None:
    problem = routing().problem("claude", "claude-3-haiku-20240307")
    assert problem is not None and "provider 'claude'" in problem
    assert "configured: eu, sim, vllm" in problem


def test_a_self_hosted_model_routes_once_it_has_a_free_catalog_entry() -> None:
    entry = {"provider": "vllm", "model": "llama-3.1-8b", "input_per_mtok": 0,
             "output_per_mtok": 0, "context_window": 8192}
    r = Routing({"vllm": "openai"}, Catalog.load([entry]))
    assert r.problem("vllm", "llama-3.1-8b") is None
    assert Routing({"vllm": "openai"}, Catalog.load()).problem("vllm", "llama-3.1-8b")


def test_providers_for_lists_who_can_serve_a_bare_model() -> None:
    assert routing().providers_for("gpt-4o") == ["eu", "vllm"]
    assert routing().providers_for("sim-hugee") == []


def _project(tmp_path: Path, config: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "rampway.yaml").write_text(config, encoding="utf-8")
    write_release_dir(root / "releases" / "bot", VLLM_RELEASE)
    return root


def test_a_self_hosted_model_without_catalog_entry_is_refused_with_file_and_line(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path, VLLM_CONFIG)
    with pytest.raises(UnroutableRelease) as info:
        load_checked(load_project(root), root / "releases" / "bot", "bot")
    message = info.value.message
    assert message.startswith(f"{root / 'releases' / 'bot' / 'release.yaml'}:2: bot (model): ")
    assert "vllm/llama-3.1-8b has no catalog entry" in message
    assert info.value.http_status == 422 and "\n" not in message


def test_the_catalog_entry_makes_the_same_release_valid(tmp_path: Path) -> None:
    config = VLLM_CONFIG + (
        "catalog:\n  - {provider: vllm, model: llama-3.1-8b, input_per_mtok: 0,"
        " output_per_mtok: 0, context_window: 8192}\n"
    )
    root = _project(tmp_path, config)
    release = load_checked(load_project(root), root / "releases" / "bot", "bot")
    assert release.models == [("vllm", "llama-3.1-8b"), ("sim", "sim-small")]


def test_an_unroutable_fallback_is_named_as_such(tmp_path: Path) -> None:
    root = _project(tmp_path, VLLM_CONFIG)
    (root / "releases" / "bot" / "release.yaml").write_text(
        VLLM_RELEASE.replace("provider: vllm\nmodel: llama-3.1-8b\nfallbacks: [sim/sim-small]",
                             "provider: sim\nmodel: sim-large\nfallbacks: [sim-smol]"))
    release_dir = root / "releases" / "bot"
    from rampway.release import load_release

    release = load_release(release_dir, feature="bot")
    with pytest.raises(UnroutableRelease) as info:
        check_release(load_project(root), release, release_dir)
    assert "bot (fallbacks[0]): model sim/sim-smol" in info.value.message
    assert ":3: " in info.value.message
