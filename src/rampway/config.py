"""Project configuration: `rampway.yaml` at the root of the user's repository.

    database:  {url: postgresql+psycopg://…}        # optional; $RAMPWAY_DB wins
    events:    clickhouse://user:pw@host:8123/db     # optional; $RAMPWAY_EVENTS wins; or
                                                     # chdb:///dir (rampway.events.clickhouse)
    providers:
      sim: {kind: sim, base_url: http://127.0.0.1:8900/v1}
      openai: {kind: openai, api_key_env: OPENAI_API_KEY}
    catalog: [{model: sim-large, input_per_mtok: 1.0}]   # model-catalog overrides
    features:
      support-bot: {retention: {prompts: true, redact: ['\\d{16}']}, require_unit: true}
    channels:      # what a channel needs before it may point at a release (`channel set`, API)
      production: {require: [gate]}          # the default for production
      staging: {require: [gate, approval]}   # other channels are unprotected unless listed
    gateway: {…}   # free-form, owned by the gateway
    sim: {…}       # free-form, owned by the simulator
    rollouts: {…}  # free-form, owned by rampway.rollout (webhooks, controller interval)
    lifecycle:     # what `rampway models watch` re-evaluates (default: nothing)
      reeval: [drift, catalog, deprecation]
      within: 90d

Every section is validated strictly (unknown keys are errors naming `rampway.yaml:line`), except
`gateway`, `sim` and `rollouts`, whose owners validate them. `load_project()` walks up from the
current directory like git does, so every command works from any subdirectory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rampway._yaml import describe_validation_error, load_located
from rampway.errors import ConfigError

CONFIG_FILE = "rampway.yaml"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str | None = None


class EventsConfig(_Strict):
    """Where request and feedback events go: unset = the main database; a `clickhouse://` or
    `chdb://` URL = ClickHouse (`rampway.events.clickhouse`). Checked when the file is read."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _parses(cls, url: str | None) -> str | None:
        if url is not None and url.strip():
            from rampway.events.clickhouse._url import parse_events_url

            try:
                parse_events_url(url.strip())
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("events: ")) from exc
        return url


class ProviderConfig(_Strict):
    """One upstream. `options` carries adapter-specific settings the adapter validates itself."""

    kind: Literal["openai", "anthropic", "sim", "local"]
    base_url: str | None = None
    api_key_env: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class RetentionConfig(_Strict):
    """Whether prompt/response text is kept in the event log, and what is masked first."""

    prompts: bool = True
    redact: list[str] = Field(default_factory=list)

    @field_validator("redact")
    @classmethod
    def _regexes_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return patterns


class FeatureConfig(_Strict):
    mode: Literal["managed", "passthrough"] | None = None
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    # true (= "user"): every request names a user; "session": a session id; "both": both
    require_unit: bool | Literal["user", "session", "both"] = False


class ChannelConfig(_Strict):
    """A protected channel: `gate` = a recorded gate PASS of the release against the one the
    channel serves now, under the repo's current policy and suite; `approval` = a recorded
    `rampway release approve`. `require: []` unprotects (e.g. a sandbox's production)."""

    require: list[Literal["gate", "approval"]] = Field(default_factory=list)


class LifecycleConfig(_Strict):
    """Re-evaluation of production releases by `rampway models watch`: each tick re-runs the
    gate of a production release when a listed trigger fires — `drift` (the provider-reported
    model changed), `catalog` (its models' catalog entries changed), `deprecation` (a model
    is deprecated or retires within `within`: the successor candidate is gated)."""

    reeval: list[Literal["drift", "catalog", "deprecation"]] = Field(default_factory=list)
    within: str = Field(default="90d", pattern=r"^\s*\d+\s*[dwmy]?\s*$")


class ProjectConfig(_Strict):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    catalog: list[dict[str, Any]] = Field(default_factory=list)
    features: dict[str, FeatureConfig] = Field(default_factory=dict)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    gateway: dict[str, Any] = Field(default_factory=dict)
    sim: dict[str, Any] = Field(default_factory=dict)
    rollouts: dict[str, Any] = Field(default_factory=dict)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """`database: sqlite:///x.db` is accepted as `database: {url: …}` (so is `events: …`);
        null sections = empty."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        for section in ("database", "events"):
            if isinstance(data.get(section), str):
                data[section] = {"url": data[section]}
        return data

    @field_validator("providers", "features", "channels")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"invalid name {name!r} (letters, digits, '.', '_', '-')")
        return value


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded project: its root directory and validated configuration."""

    root: Path
    config: ProjectConfig

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def db_url(self) -> str:
        """The database URL: $RAMPWAY_DB, else rampway.yaml, else the SQLite default."""
        from rampway.store import resolve_url

        return resolve_url(self.root, self.config.database.url)


#: A project read when it is needed: the gateway's admin API and dashboard are given one that
#: answers with rampway.yaml as the gateway last reloaded it, so what they validate writes
#: against is what serving and `/readyz` see (`ControlWatcher.project`).
ProjectSource = Callable[[], "Project | None"]


def project_source(project: Project | ProjectSource | None) -> ProjectSource:
    """A fixed project (or none) as a source; a source as it is."""
    if project is None or isinstance(project, Project):
        return lambda: project
    return project


def parse_config(text: str, file: str = CONFIG_FILE) -> ProjectConfig:
    """Validate the text of a rampway.yaml; errors are ConfigError naming `file:line`."""
    doc = load_located(text, file, error=ConfigError)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{file}:{doc.line_of(())}: top level must be a mapping")
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path, message = describe_validation_error(first, data)
        line = doc.line_of(path)
        where = f"{file}:{line}" if line else file
        raise ConfigError(f"{where}: {message}") from exc


def find_project_root(start: Path | None = None) -> Path:
    """Nearest directory at or above `start` (default cwd) that holds a rampway.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} found in {here} or any parent directory "
        "(run `rampway init` or pass --project DIR)"
    )


def load_project(start: Path | None = None) -> Project:
    """Find and load the project. `start` may be the project dir itself or any directory below.

    Without `start`, $RAMPWAY_PROJECT is used when set, else the current directory.
    """
    if start is None and os.environ.get("RAMPWAY_PROJECT"):
        start = Path(os.environ["RAMPWAY_PROJECT"])
    if start is not None and not start.exists():
        raise ConfigError(f"project directory {start} does not exist")
    root = find_project_root(start)
    path = root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return Project(root=root, config=parse_config(text, str(path)))


__all__ = [
    "CONFIG_FILE",
    "ChannelConfig",
    "DatabaseConfig",
    "EventsConfig",
    "FeatureConfig",
    "Project",
    "ProjectConfig",
    "ProjectSource",
    "ProviderConfig",
    "RetentionConfig",
    "find_project_root",
    "load_project",
    "parse_config",
    "project_source",
]
