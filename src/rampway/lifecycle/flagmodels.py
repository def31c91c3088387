"""Models named in flags: what `rampway models check` looks at besides releases.

A `<feature>.model` flag (or any string flag whose values are model names — an app reading
`summarizer-model` through OpenFeature) routes traffic to a model as surely as a release does,
so a deprecation must find it too. Every value the flag can serve (default, rule values,
variations) that names a catalog model under a configured provider counts:

    flag_model_uses(flagset.flags.values(), catalog, {"sim": "sim"})
    # [("support-bot.model", "rules[0].value", ModelInfo(sim/sim-small …)), …]

A `<feature>.release` flag pinning a release id (the transition window's opt-out) routes to that
release's models: `pinned_releases` finds them in the store, and `models check` reports a pin
whose model retires in the window — the "until a date" a flag itself cannot express.
`flag_model_uses` is pure; `pinned_releases` reads the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rampway.errors import RefError
from rampway.flags import Flag, FlagType
from rampway.flags.native import is_release_id, native_name, possible_values
from rampway.flags.routable import located_values
from rampway.providers.catalog import Catalog, ModelInfo
from rampway.release import Release

if TYPE_CHECKING:
    from rampway.store import Store


def flag_model_uses(
    flags: Iterable[Flag], catalog: Catalog, kinds: Mapping[str, str]
) -> list[tuple[str, str, ModelInfo]]:
    """(flag key, where in the flag, model info) for each model a flag can serve; no repeats."""
    seen: set[tuple[str, str, str]] = set()
    uses: list[tuple[str, str, ModelInfo]] = []
    for flag in flags:
        if flag.type is not FlagType.STRING:
            continue
        for rule, path, value in located_values(flag):
            for info in _models_named(value, catalog, kinds):
                key = (flag.key, info.provider, info.model)
                if key not in seen:
                    seen.add(key)
                    where = "default" if rule is None else f"rules[{rule}].{path}"
                    uses.append((flag.key, where, info))
    return uses


def pinned_releases(flags: Iterable[Flag], store: Store) -> list[tuple[str, str, Release]]:
    """(flag key, release id, release) for each release a `<feature>.release` flag pins by id
    (channels are not pins; an id the store does not know is `rampway doctor`'s to report)."""
    out = []
    for flag in flags:
        named = native_name(flag.key)
        if named is None or named[1] != "release":
            continue
        for value in dict.fromkeys(possible_values(flag)):
            if not isinstance(value, str) or not is_release_id(value):
                continue
            try:
                record = store.get_release(named[0], value)
            except RefError:
                continue
            out.append((flag.key, record.release_id, Release.from_canonical(record.canonical)))
    return out


def _models_named(value: Any, catalog: Catalog, kinds: Mapping[str, str]) -> Iterator[ModelInfo]:
    """Catalog entries `value` names: `provider/model`, or a bare model under any provider."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return
    provider, slash, model = value.partition("/")
    if slash:
        names = [provider, kinds.get(provider, provider)]
    else:
        model, names = value, [n for pair in kinds.items() for n in pair]
    found = {id(e): e for name in names if (e := catalog.find(name, model)) is not None}
    yield from found.values()


__all__ = ["flag_model_uses", "pinned_releases"]
