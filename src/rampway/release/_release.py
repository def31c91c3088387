"""The Release object: one immutable, content-addressed version of a feature.

Identity is the SHA-256 of the canonical text:

    {"feature": "support-bot", "files": {"prompts/system.md": "…"}, "format": 1, "spec": {…}}

— the parsed and normalized spec (defaults applied, unset optionals omitted, keys sorted) plus the
text of every referenced prompt file (newlines normalized), serialized as compact JSON with sorted
keys. So formatting or comments in release.yaml do not change the id, while any change to prompt
text, model, parameters, tools or response format does; the path of the checkout never enters.

    r = load_release(Path("releases/support-bot"))
    r.id                                       # 'support-bot@3f2a9c1e'
    msgs = r.render({"customer_name": "Ada"}, user_message="Where is my order?")
    req = r.base_request(msgs)                 # a ChatRequest with model, params, tools filled
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

from jinja2 import Template

from rampway.errors import ReleaseError
from rampway.providers.types import ChatRequest, Message
from rampway.release._spec import INPUT_VARIABLE, ReleaseSpec
from rampway.release._templates import compile_template, render_template

CANONICAL_FORMAT = 1
SHORT_HASH_LEN = 8


def canonical_text(feature: str, spec: ReleaseSpec, files: Mapping[str, str]) -> str:
    """The exact text that is hashed (and stored) for a release."""
    payload = {
        "format": CANONICAL_FORMAT,
        "feature": feature,
        "spec": spec.to_json(),
        "files": dict(files),
    }
    try:
        return json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as exc:  # NaN / Infinity inside a tool or response schema
        raise ReleaseError(f"release {feature}: {exc} (NaN and Infinity are not JSON)") from exc


@dataclass(frozen=True, slots=True)
class _Compiled:
    system: Template | None
    user: Template | None


class Release:
    """One immutable release. Build it with `load_release`, `resolve_ref` or `from_canonical`.

    Attributes: `feature`, `digest` (64 hex), `id` (`feature@<8 hex>`), `spec`, `files`
    (relative path → text of every referenced prompt file), `canonical` (the hashed text).
    """

    __slots__ = ("_compiled", "_extra", "_rf_json", "_tools_json", "canonical", "digest",
                 "feature", "files", "id", "spec")

    feature: str
    digest: str
    id: str
    spec: ReleaseSpec
    files: Mapping[str, str]
    canonical: str
    _compiled: _Compiled | None
    _tools_json: str | None
    _rf_json: str | None
    _extra: dict[str, Any]

    def __init__(self, feature: str, spec: ReleaseSpec, files: Mapping[str, str]) -> None:
        """Low level: no template checks. Loaders validate before constructing."""
        ordered = dict(sorted(files.items()))
        canonical = canonical_text(feature, spec, ordered)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        tools = [t.model_dump(mode="json", exclude_none=True) for t in spec.tools]
        rf = spec.response_format
        params = spec.params
        extra = {
            k: v
            for k, v in (
                ("presence_penalty", params.presence_penalty),
                ("frequency_penalty", params.frequency_penalty),
            )
            if v is not None
        }
        init = object.__setattr__
        init(self, "feature", feature)
        init(self, "spec", spec)
        init(self, "files", MappingProxyType(ordered))
        init(self, "canonical", canonical)
        init(self, "digest", digest)
        init(self, "id", f"{feature}@{digest[:SHORT_HASH_LEN]}")
        init(self, "_tools_json", json.dumps(tools) if tools else None)
        init(self, "_rf_json", None if rf is None else json.dumps(
            rf.model_dump(mode="json", by_alias=True, exclude_none=True)))
        init(self, "_extra", extra)
        init(self, "_compiled", None)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Release is immutable (tried to set {name!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Release) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Release({self.id!r}, {self.spec.provider}/{self.spec.model})"

    @property
    def models(self) -> list[tuple[str, str]]:
        """[(provider, model)]: the primary, then each fallback in order."""
        return self.spec.models

    @classmethod
    def from_canonical(cls, text: str) -> Release:
        """Rebuild (and re-validate) a release from its canonical text, e.g. out of the store."""
        from rampway.release._loader import release_from_canonical

        return release_from_canonical(text)

    def _templates(self) -> _Compiled:
        """Compile on first use and keep it: render() sits on the gateway's hot path."""
        compiled: _Compiled | None = self._compiled
        if compiled is None:
            msgs = self.spec.messages
            system = None if msgs.system is None else compile_template(self.files[msgs.system])
            user = None
            if msgs.user is not None:
                user_file = msgs.user_file
                source = msgs.user if user_file is None else self.files[user_file]
                user = compile_template(source)
            compiled = _Compiled(system=system, user=user)
            object.__setattr__(self, "_compiled", compiled)
        return compiled

    def render(
        self, variables: Mapping[str, object], user_message: str | None = None
    ) -> list[Message]:
        """The messages for one request: system, few-shot pairs, then the user turn.

        With a user template, `user_message` reaches the model only through the template
        variable `input` (`{{ input }}`); without one, `user_message` becomes the user turn as-is,
        and with neither the result ends after the few-shot pairs (the caller appends its own
        conversation). Variables not declared by the release are ignored; a missing required one
        raises ReleaseError naming it.
        """
        if self.spec.mode == "passthrough":
            raise ReleaseError(f"{self.id}: a passthrough release has no templates to render")
        for name, var in self.spec.variables.items():
            if var.required and name not in variables:
                raise ReleaseError(f"{self.id}: missing template variable '{name}'")
        context = dict(variables)
        if user_message is not None:
            context[INPUT_VARIABLE] = user_message
        compiled = self._templates()
        out: list[Message] = []
        if compiled.system is not None:
            out.append(Message("system", render_template(compiled.system, context, where=self.id)))
        for shot in self.spec.messages.few_shot:
            out.append(Message("user", shot.user))
            out.append(Message("assistant", shot.assistant))
        if compiled.user is not None:
            out.append(Message("user", render_template(compiled.user, context, where=self.id)))
        elif user_message is not None:
            out.append(Message("user", user_message))
        return out

    def base_request(self, messages: list[Message]) -> ChatRequest:
        """A ChatRequest for the primary model with params, tools and response format filled.

        Tools and response_format are fresh copies, so callers may modify the request freely.
        """
        p = self.spec.params
        return ChatRequest(
            model=self.spec.model,
            messages=messages,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            top_p=p.top_p,
            stop=None if p.stop is None else list(p.stop),
            seed=p.seed,
            tools=None if self._tools_json is None else json.loads(self._tools_json),
            response_format=None if self._rf_json is None else json.loads(self._rf_json),
            extra=dict(self._extra),
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description for CLI and API output."""
        return {
            "id": self.id,
            "feature": self.feature,
            "digest": self.digest,
            "models": [f"{p}/{m}" for p, m in self.models],
            "spec": self.spec.to_json(),
            "files": dict(self.files),
        }


__all__ = ["CANONICAL_FORMAT", "Release", "canonical_text"]
