"""`<feature>.model` flags may only select models the gateway can route. Pure, no I/O.

A model flag is a way to reach users, like a channel: `support-bot.model: sim/sim-huge` accepted
and then every request a 500 is the failure this prevents. Every value the flag can evaluate to
(default, each rule's value, each variation) is checked with the same `Routing` the release
paths use, when the flags are written (`FlagStore` with a routing), validated (`rampway flags
validate`) or audited (`rampway doctor`).

A value without a provider (`sim-small`) is served with the provider of whatever release the
feature serves, so it must be routable under each of those providers (`release_providers`:
feature → the primary providers of its releases on channels). A feature with no release yet
needs at least one configured provider that can route the model.

Example:
    check_model_flags(flagset.flags.values(), Routing.of(project), {"support-bot": {"sim"}})
    # UnroutableFlag: flag 'support-bot.model' rule 0: value 'sim-hugee': model sim/sim-hugee …
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from rampway.errors import UnroutableFlag
from rampway.flags._model import Flag, FlagType
from rampway.flags.native import native_name, parse_model
from rampway.release._routable import Routing


def located_values(flag: Flag) -> Iterator[tuple[int | None, str, Any]]:
    """(rule index or None, path inside it, value) for every value the flag can serve."""
    yield None, "default", flag.default
    for index, rule in enumerate(flag.rules):
        if rule.variations:
            for v_index, variation in enumerate(rule.variations):
                yield index, f"variations.{v_index}.value", variation.value
        else:
            yield index, "value", rule.value


def model_flag_problem(
    feature: str, value: str, routing: Routing, release_providers: Collection[str]
) -> str | None:
    """Why `value` of `<feature>.model` could not be served, or None."""
    provider, model = parse_model(value)
    if provider is not None:
        return routing.problem(provider, model)
    if release_providers:
        for name in sorted(release_providers):
            problem = routing.problem(name, model)
            if problem is not None:
                return f"{problem} (a value without a provider uses the release's, {name})"
        return None
    if routing.providers_for(model):
        return None
    return (
        f"model {model} has no catalog entry under any configured provider, so the gateway "
        "cannot route it: fix the name, write it as provider/model, or add it under `catalog:` "
        "in rampway.yaml"
    )


def check_model_flags(
    flags: Iterable[Flag],
    routing: Routing,
    release_providers: Mapping[str, Collection[str]],
) -> None:
    """Raise UnroutableFlag naming the flag, rule and value of the first unroutable model."""
    for flag in flags:
        named = native_name(flag.key)
        if named is None or named[1] != "model" or flag.type is not FlagType.STRING:
            continue
        feature = named[0]
        for rule, path, value in located_values(flag):
            if not isinstance(value, str):
                continue
            problem = model_flag_problem(
                feature, value, routing, release_providers.get(feature, ())
            )
            if problem is not None:
                raise UnroutableFlag(
                    f"value {value!r}: {problem}",
                    flag=flag.key,
                    rule=rule,
                    path=path,
                )


__all__ = ["check_model_flags", "located_values", "model_flag_problem"]
