"""Experiment and shadow definition files behave alike (one `rampway._definitions` helper):
the file stem is the name, only `*.yaml` files count, and errors name the file and the kind."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from rampway.errors import ConfigError
from rampway.experiments import spec as experiment_spec
from rampway.shadow import spec as shadow_spec

KINDS = [pytest.param(experiment_spec, "experiments", "an experiment", id="experiment"),
         pytest.param(shadow_spec, "shadows", "a shadow", id="shadow")]


@pytest.mark.parametrize(("spec", "directory", "noun"), KINDS)
def test_names_are_the_yaml_stems_sorted(spec: ModuleType, directory: str, noun: str,
                                         tmp_path: Path) -> None:
    assert spec.definition_names(tmp_path) == []  # no directory yet
    folder = tmp_path / directory
    folder.mkdir()
    for name in ("b.yaml", "a.yaml", "c.yml", "notes.txt"):
        (folder / name).write_text("x: 1\n")
    (folder / "dir.yaml").mkdir()
    assert spec.definition_names(tmp_path) == ["a", "b"]
    assert spec.definition_path(tmp_path, "a") == folder / "a.yaml"


@pytest.mark.parametrize(("spec", "directory", "noun"), KINDS)
def test_errors_name_the_file_and_the_kind(spec: ModuleType, directory: str, noun: str,
                                           tmp_path: Path) -> None:
    kind = noun.split()[1]
    with pytest.raises(ConfigError, match=f"invalid {kind} name '../x'"):
        spec.definition_path(tmp_path, "../x")
    missing = spec.definition_path(tmp_path, "gone")
    with pytest.raises(ConfigError, match=f"gone.yaml: no such {kind} file"):
        spec.load_definition(missing)
    (tmp_path / directory).mkdir()
    (tmp_path / directory / "bytes.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=f"bytes.yaml: cannot read {kind}: 'utf-8' codec"):
        spec.load_definition(spec.definition_path(tmp_path, "bytes"))
    with pytest.raises(ConfigError, match=f"^f.yaml:2: {noun} must be a mapping$"):
        spec.parse_definition("\n- a\n", "f.yaml")
    with pytest.raises(ConfigError, match="^definition: feature: required key is missing$"):
        spec.definition_from({}, "definition")
