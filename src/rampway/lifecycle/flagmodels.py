"""Models named in flags: what `rampway models check` looks at besides releases.

A `<feature>.model` flag (or any string flag whose values are model names — an app reading
`summarizer-model` through OpenFeature) routes traffic to a model as surely as a release does,
so a deprecation must find it too. Every value the flag can serve (default, rule values,
variations) that names a catalog model under a configured provider counts:

    flag_model_uses(flagset.flags.values(), catalog, {"sim": "sim"})
    # [("support-bot.model", "rules[0].value", ModelInfo(sim/sim-small …)), …]

A `<feature>.release` flag pinning a release id (the transition window's opt-out) routes to that
release's models until its rule's `request.date` bound (`{request.date: {$lt: "2027-04-15"}}`:
the gateway stops applying it that day). `release_pins` lists the pins with their end day;
`models check` reports a pin whose end has passed (expired: remove it) and one still in force
whose model retires in the window. `flag_model_uses` and `release_pins` are pure;
`pinned_releases` reads the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rampway.errors import RefError
from rampway.flags import Flag, FlagType
from rampway.flags.native import is_release_id, native_name
from rampway.flags.routable import located_values
from rampway.providers.catalog import Catalog, ModelInfo
from rampway.release import Release

if TYPE_CHECKING:
    from rampway.store import Store

#: The evaluation context's day (see `rampway.flags.serving`): what dates a pin.
DATE_PATH = "request.date"


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


@dataclass(frozen=True, slots=True)
class Pin:
    """A `<feature>.release` flag value pinning a release id, and the day it stops applying."""

    flag: str
    where: str  # "default" or "rules[i]"
    release_id: str
    until: dt.date | None  # None: no `request.date` bound, the pin holds until removed

    def expired(self, today: dt.date) -> bool:
        return self.until is not None and self.until <= today


def release_pins(flags: Iterable[Flag]) -> list[Pin]:
    """Every release id a `<feature>.release` flag can serve, with its rule's date bound.
    Pure (channels are not pins)."""
    pins = []
    for flag in flags:
        named = native_name(flag.key)
        if named is None or named[1] != "release":
            continue
        if isinstance(flag.default, str) and is_release_id(flag.default):
            pins.append(Pin(flag.key, "default", flag.default, None))
        for index, rule in enumerate(flag.rules):
            values = [rule.value, *(v.value for v in rule.variations)]
            ids = dict.fromkeys(v for v in values if isinstance(v, str) and is_release_id(v))
            pins += [Pin(flag.key, f"rules[{index}]", v, pin_until(rule.condition)) for v in ids]
    return pins


def pin_until(condition: Mapping[str, Any] | None) -> dt.date | None:
    """The first day a rule no longer holds by its `request.date` bound: `$lt D` → D,
    `$lte D` → the day after; None without a parseable upper bound."""
    bound = (condition or {}).get(DATE_PATH)
    if not isinstance(bound, Mapping):
        return None
    for op, shift in (("$lt", 0), ("$lte", 1)):
        value = bound.get(op)
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value) + dt.timedelta(days=shift)
            except ValueError:
                return None
    return None


def pinned_releases(
    flags: Iterable[Flag], store: Store, today: dt.date
) -> list[tuple[Pin, Release]]:
    """Each pin still in force on `today`, with its release from the store (an id the store
    does not know is `rampway doctor`'s to report)."""
    out = []
    for pin in release_pins(flags):
        if pin.expired(today):
            continue
        try:
            record = store.get_release(pin.flag.rpartition(".")[0], pin.release_id)
        except RefError:
            continue
        out.append((pin, Release.from_canonical(record.canonical)))
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


__all__ = ["DATE_PATH", "Pin", "flag_model_uses", "pin_until", "pinned_releases", "release_pins"]
