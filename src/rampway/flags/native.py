"""The flags the gateway understands natively, named `<feature>.<name>` (pure, no I/O).

    support-bot.enabled      bool    false: the kill switch — answer with `fallback`, else 503
    support-bot.fallback     string  the assistant message served while the feature is off
    support-bot.release      string  serve this release id (`support-bot@3f2a9c1e`) or channel
    support-bot.model        string  override the model: `sim-small` or `provider/sim-small`
    support-bot.max_tokens   number  cap the upstream `max_tokens` (a positive integer)

They are ordinary flags (rules, segments, percentages, request-shape conditions); this module
only knows their names and which values make sense, so a definition the gateway could not act on
(`max_tokens: -3`, `enabled` of type string, a release of another feature) is refused when it is
written, like any other broken definition, instead of failing requests later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from rampway.errors import FlagError
from rampway.flags._model import Flag, FlagType

NATIVE: Mapping[str, FlagType] = {
    "enabled": FlagType.BOOL,
    "fallback": FlagType.STRING,
    "release": FlagType.STRING,
    "model": FlagType.STRING,
    "max_tokens": FlagType.NUMBER,
}
_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_RELEASE = re.compile(r"(?P<feature>.+)@(?P<hex>[0-9a-f]{4,64})")
_MODEL = re.compile(r"(?:(?P<provider>[A-Za-z0-9][A-Za-z0-9._-]*)/)?(?P<model>[^\s/][^\s]*)")


def native_name(flag_key: str) -> tuple[str, str] | None:
    """`('support-bot', 'model')` for `support-bot.model`; None for any other flag."""
    feature, dot, name = flag_key.rpartition(".")
    if not dot or not feature or name not in NATIVE:
        return None
    return feature, name


def flag_key(feature: str, name: str) -> str:
    return f"{feature}.{name}"


def possible_values(flag: Flag) -> Iterator[Any]:
    """Every value the flag can evaluate to: default, rule values, variation values."""
    yield flag.default
    for rule in flag.rules:
        if rule.variations:
            yield from (v.value for v in rule.variations)
        else:
            yield rule.value


def check_native(flag: Flag) -> None:
    """Raise FlagError if a native flag has the wrong type or a value the gateway can't use."""
    named = native_name(flag.key)
    if named is None:
        return
    feature, name = named
    if flag.type is not NATIVE[name]:
        raise FlagError(
            f"'{name}' flags must be of type {NATIVE[name].value}", flag=flag.key, path="type"
        )
    for value in possible_values(flag):
        problem = _value_problem(feature, name, value)
        if problem:
            raise FlagError(f"value {value!r}: {problem}", flag=flag.key)


def _value_problem(feature: str, name: str, value: Any) -> str | None:
    if name == "max_tokens":
        ok = isinstance(value, int | float) and math.isfinite(value) and value == int(value)
        return None if ok and value >= 1 else "max_tokens must be a positive integer"
    if name == "model" and not _MODEL.fullmatch(value):
        return "a model must read 'model' or 'provider/model'"
    if name == "release":
        release = _RELEASE.fullmatch(value)
        if release is not None and release["feature"] != feature:
            return f"is a release of {release['feature']!r}, not of {feature!r}"
        if release is None and not _CHANNEL.fullmatch(value):
            return f"must be a release id like {feature}@3f2a9c1e or a channel name"
    return None


def is_release_id(value: str) -> bool:
    return _RELEASE.fullmatch(value) is not None


def parse_model(value: str) -> tuple[str | None, str]:
    """`'sim/sim-small'` → `('sim', 'sim-small')`; `'sim-small'` → `(None, 'sim-small')`."""
    match = _MODEL.fullmatch(value)
    if match is None:
        raise FlagError(f"invalid model {value!r}: use 'model' or 'provider/model'")
    return match["provider"], match["model"]


def release_refs(flags: Mapping[str, Flag]) -> dict[str, set[str]]:
    """Release ids (not channels) each feature's `release` flag can pin, by feature."""
    out: dict[str, set[str]] = {}
    for flag in flags.values():
        named = native_name(flag.key)
        if named is None or named[1] != "release" or flag.type is not FlagType.STRING:
            continue
        ids = {v for v in possible_values(flag) if isinstance(v, str) and is_release_id(v)}
        if ids:
            out.setdefault(named[0], set()).update(ids)
    return out


__all__ = [
    "NATIVE",
    "check_native",
    "flag_key",
    "is_release_id",
    "native_name",
    "parse_model",
    "possible_values",
    "release_refs",
]
