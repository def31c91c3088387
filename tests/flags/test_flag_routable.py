"""Model and release flags may only select what the gateway can route (`rampway.flags.routable`
pure, and `FlagStore` with a routing on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rampway.errors import ReleaseError, UnroutableFlag
from rampway.flags import FlagSet
from rampway.flags.routable import check_model_flags, model_flag_problem
from rampway.flags.store import FlagStore
from rampway.providers.catalog import Catalog
from rampway.release import Routing, load_release
from rampway.store import Store

ROUTING = Routing({"sim": "sim", "oai": "openai"}, Catalog.load())


def test_a_bare_model_uses_each_release_provider() -> None:
    assert model_flag_problem("bot", "sim-small", ROUTING, {"sim"}) is None
    problem = model_flag_problem("bot", "gpt-4o", ROUTING, {"sim", "oai"})
    assert problem is not None and "sim/gpt-4o" in problem and "the release's, sim" in problem


def test_a_bare_model_without_releases_needs_some_provider() -> None:
    assert model_flag_problem("bot", "gpt-4o", ROUTING, ()) is None
    problem = model_flag_problem("bot", "gpt-40", ROUTING, ())
    assert problem is not None and "any configured provider" in problem


def test_every_value_is_checked_and_the_rule_and_path_are_named() -> None:
    flags = FlagSet.from_dict({"flags": {"bot.model": {
        "type": "string", "default": "sim/sim-large",
        "rules": [{"condition": {"plan": "free"}, "value": "sim/sim-small"},
                  {"variations": [{"value": "sim/sim-small", "weight": 50},
                                  {"value": "oai/gpt-4o-mni", "weight": 50}]}]}}})
    with pytest.raises(UnroutableFlag) as info:
        check_model_flags(flags.flags.values(), ROUTING, {})
    assert (info.value.flag, info.value.rule, info.value.path) == (
        "bot.model", 1, "variations.1.value")
    assert "did you mean gpt-4o-mini?" in info.value.message
    other = FlagSet.from_dict({"flags": {"bot.other": {"type": "string", "default": "x/y"}}})
    check_model_flags(other.flags.values(), ROUTING, {})  # not a native model flag


def _publish(store: Store, tmp_path: Path, model: str) -> str:
    directory = tmp_path / model
    directory.mkdir()
    (directory / "release.yaml").write_text(yaml.safe_dump(
        {"provider": "sim", "model": model, "mode": "passthrough"}))
    release = load_release(directory, feature="bot")
    store.publish("bot", release.digest, release.id, release.canonical, actor="t", reason="test")
    return release.id


def test_the_store_refuses_an_unroutable_model_or_pinned_release(
    store: Store, tmp_path: Path
) -> None:
    good, bad = _publish(store, tmp_path, "sim-large"), _publish(store, tmp_path, "sim-hugee")
    store.set_channel("bot", "production", good, actor="t", reason="t")
    flags = FlagStore(store, ROUTING)
    version = store.control_version()
    with pytest.raises(UnroutableFlag, match="sim/sim-hugee has no catalog entry"):
        flags.put("flag", "bot.model", {"type": "string", "default": "sim-hugee"},
                  actor="t", reason="t")
    with pytest.raises(UnroutableFlag, match=f"value '{bad}' serves sim/sim-hugee"):
        flags.put("flag", "bot.release", {"type": "string", "default": "production",
                                          "rules": [{"condition": {"beta": True},
                                                     "value": bad}]},
                  actor="t", reason="t")
    assert flags.list("flag") == [] and store.control_version() == version
    flags.put("flag", "bot.model", {"type": "string", "default": "sim-small"},
              actor="t", reason="t")
    flags.put("flag", "bot.enabled", {"type": "bool", "default": True}, actor="t", reason="t")
    assert [r.key for r in flags.list("flag")] == ["bot.enabled", "bot.model"]


def test_the_primary_provider_is_read_from_the_canonical_text_as_the_release_has_it(
    tmp_path: Path,
) -> None:
    from rampway.flags.store import primary_provider
    from rampway.release import Release

    directory = tmp_path / "r"
    directory.mkdir()
    (directory / "release.yaml").write_text(yaml.safe_dump(
        {"provider": "oai", "model": "gpt-4o", "fallbacks": ["sim/sim-large"],
         "mode": "passthrough"}))
    canonical = load_release(directory, feature="bot").canonical
    assert primary_provider(canonical) == "oai"
    assert Release.from_canonical(canonical).models[0][0] == "oai"
    # another shape is rebuilt in full, so a broken row is reported as before
    with pytest.raises(ReleaseError, match="canonical"):
        primary_provider('{"format": 2, "feature": "bot", "spec": {}, "files": {}}')
