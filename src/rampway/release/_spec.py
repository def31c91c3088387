"""The release.yaml schema: what one release declares.

    provider: sim
    model: sim-large
    params: {temperature: 0.2, max_tokens: 512}
    messages:
      system: prompts/system.md          # a template file, relative to the release directory
      few_shot: [{user: "hi", assistant: "Hello! How can I help?"}]
      user: prompts/user.j2               # a template file, or an inline template
    variables: {customer_name: {description: "shown in the greeting", required: false}}
    tools: [{type: function, function: {name: lookup_order, parameters: {…JSON Schema…}}}]
    tools_from_app: refuse     # refuse (default) | merge | replace: app-sent tools, see below
    response_format: {type: json_schema, json_schema: {name: invoice, schema: {…}}}
    fallbacks: [sim-small, other-provider/some-model]
    traffic_class: chat        # chat | batch
    mode: managed              # managed | passthrough
    owner: support-team@example.com
    description: Answers FAQ and classifies intent.

`tools_from_app` says what happens to `tools` / `tool_choice` an app sends to a release that owns
its tools (a managed release, or any release declaring tools): `refuse` answers 400 unless the
app's tools are the release's own; `merge` adds the app's tools to the release's (a name clash with
a different definition is a 400); `replace` lets the app's tools stand in for the release's. Unset
means `refuse` and is left out of the canonical form, so existing release ids do not change.

Structural checks live here (pydantic, extra keys forbidden); checks that need the referenced
files (missing prompt file, undeclared/unused variables) live in the loader.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
INPUT_VARIABLE = "input"
"""The user's message, available to the templates of a managed release (see Release.render)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def is_inline_template(value: str) -> bool:
    """A `messages.user` string is an inline template when it contains whitespace or Jinja
    delimiters; otherwise it is a path. So `prompts/user.j2` is a file and `{{ input }}` or
    `Summarise: {{input}}` are inline.
    """
    return any(ch.isspace() for ch in value) or "{{" in value or "{%" in value


def normalize_relpath(value: str) -> str:
    """`./prompts//a.md` → `prompts/a.md`; absolute paths and `..` escapes are refused because a
    release must be a self-contained directory (it is loaded from git and from the store too)."""
    if not value.strip():
        raise ValueError("empty file path")
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"file path {value!r} must stay inside the release directory")
    parts = [p for p in path.parts if p not in (".", "")]
    if not parts:
        raise ValueError(f"file path {value!r} names no file")
    return "/".join(parts)


def check_json_schema(schema: Any, what: str) -> None:
    """Validate `schema` against its JSON Schema meta-schema (draft 2020-12 unless $schema says)."""
    if not isinstance(schema, dict):
        raise ValueError(f"{what} must be a JSON Schema object")
    if not _all_finite(schema):
        raise ValueError(f"{what} contains NaN or Infinity, which JSON cannot represent")
    import jsonschema  # ~0.1 s: only releases with tools or a response schema pay for it

    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        at = f" at {where}" if where else ""
        raise ValueError(f"{what} is not a valid JSON Schema{at}: {exc.message}") from exc


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True


class Params(_Strict):
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, max_length=4)
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class FewShot(_Strict):
    user: str
    assistant: str


class Messages(_Strict):
    system: str | None = None
    few_shot: list[FewShot] = Field(default_factory=list)
    user: str | None = None

    @field_validator("system")
    @classmethod
    def _system_path(cls, value: str | None) -> str | None:
        return None if value is None else normalize_relpath(value)

    @field_validator("user")
    @classmethod
    def _user_path(cls, value: str | None) -> str | None:
        if value is None or is_inline_template(value):
            return value
        return normalize_relpath(value)

    @property
    def user_file(self) -> str | None:
        """The user template's file path, or None when it is inline or absent."""
        if self.user is None or is_inline_template(self.user):
            return None
        return self.user


class VariableSpec(_Strict):
    description: str = ""
    required: bool = True


class FunctionSpec(_Strict):
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _parameters_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        check_json_schema(value, "parameters")
        if value.get("type") != "object":
            raise ValueError("parameters must be a JSON Schema with \"type\": \"object\"")
        return value


class ToolSpec(_Strict):
    type: Literal["function"]
    function: FunctionSpec


class JsonSchemaSpec(_Strict):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json_schema(value, "schema")
        return value


class JsonSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


class JsonObjectFormat(_Strict):
    type: Literal["json_object"]


class TextFormat(_Strict):
    type: Literal["text"]


ResponseFormat = Annotated[
    JsonSchemaFormat | JsonObjectFormat | TextFormat, Field(discriminator="type")
]


class ReleaseSpec(_Strict):
    provider: str = Field(pattern=NAME_PATTERN)
    model: str = Field(min_length=1, pattern=r"^\S+$")
    params: Params = Field(default_factory=Params)
    messages: Messages = Field(default_factory=Messages)
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    tools: list[ToolSpec] = Field(default_factory=list)
    tools_from_app: Literal["refuse", "merge", "replace"] | None = None
    response_format: ResponseFormat | None = None
    fallbacks: list[str] = Field(default_factory=list)
    traffic_class: Literal["chat", "batch"] = "chat"
    mode: Literal["managed", "passthrough"] = "managed"
    owner: str | None = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        """List-form variables become a mapping; bare fallback models get the primary provider."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        variables = data.get("variables")
        if isinstance(variables, list) and all(isinstance(v, str) for v in variables):
            data["variables"] = {name: {} for name in variables}
        elif isinstance(variables, dict):
            data["variables"] = {k: ({} if v is None else v) for k, v in variables.items()}
        fallbacks, provider = data.get("fallbacks"), data.get("provider")
        if isinstance(fallbacks, list) and isinstance(provider, str):
            data["fallbacks"] = [
                f"{provider}/{fb}" if isinstance(fb, str) and "/" not in fb else fb
                for fb in fallbacks
            ]
        return data

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, VariableSpec]) -> dict[str, VariableSpec]:
        for name in value:
            if name == INPUT_VARIABLE:
                raise ValueError(f"'{INPUT_VARIABLE}' is reserved for the user message")
            if not re.match(VARIABLE_PATTERN, name):
                raise ValueError(f"invalid variable name {name!r}")
        return dict(sorted(value.items()))

    @field_validator("fallbacks")
    @classmethod
    def _fallback_form(cls, value: list[str]) -> list[str]:
        for entry in value:
            provider, _, model = entry.partition("/")
            if not re.match(NAME_PATTERN, provider) or not model or any(c.isspace() for c in model):
                raise ValueError(f"fallback {entry!r} must be 'model' or 'provider/model'")
        if len(set(value)) != len(value):
            raise ValueError("fallbacks repeat a model")
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, value: list[ToolSpec]) -> list[ToolSpec]:
        names = [t.function.name for t in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate tool name {dupes[0]!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReleaseSpec:
        if f"{self.provider}/{self.model}" in self.fallbacks:
            raise ValueError("fallbacks repeat the primary model")
        if self.mode == "passthrough":
            if self.messages != Messages() or self.variables:
                raise ValueError(
                    "a passthrough release sends the app's messages as-is: "
                    "remove 'messages' and 'variables'"
                )
        elif self.messages.system is None and self.messages.user is None:
            raise ValueError("a managed release needs messages.system or messages.user")
        return self

    @property
    def models(self) -> list[tuple[str, str]]:
        """[(provider, model)] — the primary, then the fallbacks in order."""
        out = [(self.provider, self.model)]
        for entry in self.fallbacks:
            provider, _, model = entry.partition("/")
            out.append((provider, model))
        return out

    def to_json(self) -> dict[str, Any]:
        """The normalized JSON form used in the canonical text (unset optionals left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


__all__ = [
    "INPUT_VARIABLE",
    "FewShot",
    "FunctionSpec",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "JsonSchemaSpec",
    "Messages",
    "Params",
    "ReleaseSpec",
    "ResponseFormat",
    "TextFormat",
    "ToolSpec",
    "VariableSpec",
    "check_json_schema",
    "is_inline_template",
    "normalize_relpath",
]
