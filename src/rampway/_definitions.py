"""Named definition files: `<directory>/<name>.yaml` in the project, one validated model each.

Experiments (`experiments/<name>.yaml`) and shadows (`shadows/<name>.yaml`) are both a file per
name whose stem is the name; reading, validating and listing them is the same apart from the
directory, the model and the noun the errors use, so it lives here once:

    files = DefinitionFiles(Definition, "shadows", noun="shadow")
    files.load(files.path(root, "v3-on-prod"))   # ConfigError `file:line: key: why` if invalid
    files.names(root)                            # ['v3-on-prod', ...], sorted
    files.check_name("../etc")                   # ConfigError: invalid shadow name '../etc' ...

The name doubles as a file stem and a URL segment, hence the narrow `NAME_PATTERN`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel

from rampway._yaml import Path_, load_located, validate_located
from rampway.errors import ConfigError

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

M = TypeVar("M", bound=BaseModel)


def _feature_name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise ValueError("invalid feature name (letters, digits, '.', '_', '-'; at most 64)")
    return value


#: A definition's `feature:` field (a ValueError for pydantic when it is no feature name).
FeatureName = Annotated[str, AfterValidator(_feature_name)]


@dataclass(frozen=True)
class DefinitionFiles(Generic[M]):
    """The `directory/*.yaml` files of one kind, each validated as `model`."""

    model: type[M]
    directory: str
    noun: str  # "shadow": in "invalid shadow name", "no such shadow file", …
    article: str = "a"  # "a shadow must be a mapping" / "an experiment …"

    def check_name(self, name: str) -> str:
        """A name (a file stem, a URL segment): letters, digits, '.', '_', '-'."""
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            raise ConfigError(
                f"invalid {self.noun} name {name!r}: use letters, digits, '.', '_' or '-' "
                "(starting with a letter or digit, at most 64 characters)"
            )
        return name

    def parse(self, text: str, file: str) -> M:
        """Validate the YAML text of a definition; errors are ConfigError `file:line: key: why`."""
        doc = load_located(text, file, error=ConfigError)
        data = {} if doc.data is None else doc.data
        if not isinstance(data, dict):
            raise ConfigError(f"{file}:{doc.line_of(()) or 1}: {self.article} {self.noun} "
                              "must be a mapping")
        return self.from_data(data, file, doc.line_of)

    def from_data(self, data: Any, file: str,
                  line_of: Callable[[Path_], int | None] | None = None) -> M:
        """Validate plain data (a parsed file, or a JSON request body named `file`)."""
        return validate_located(self.model, data, file, line_of)

    def path(self, root: Path, name: str) -> Path:
        return root / self.directory / f"{self.check_name(name)}.yaml"

    def load(self, path: Path) -> M:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such {self.noun} file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read {self.noun}: {exc}") from exc
        return self.parse(text, str(path))

    def names(self, root: Path) -> list[str]:
        """The definitions in the project: `<directory>/*.yaml` stems, sorted."""
        directory = root / self.directory
        if not directory.is_dir():
            return []
        return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


__all__ = ["NAME_PATTERN", "DefinitionFiles", "FeatureName"]
