"""Models named in flags: what `rampway models check` looks at besides releases. Pure, no I/O.

A `<feature>.model` flag (or any string flag whose values are model names — an app reading
`summarizer-model` through OpenFeature) routes traffic to a model as surely as a release does,
so a deprecation must find it too. Every value the flag can serve (default, rule values,
variations) that names a catalog model under a configured provider counts:

    flag_model_uses(flagset.flags.values(), catalog, {"sim": "sim"})
    # [("support-bot.model", "rules[0].value", ModelInfo(sim/sim-small …)), …]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rampway.flags import Flag, FlagType
from rampway.flags.routable import located_values
from rampway.providers.catalog import Catalog, ModelInfo


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


__all__ = ["flag_model_uses"]
