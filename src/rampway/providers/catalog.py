"""Model catalog: prices, context windows and lifecycle dates per (provider, model).

The bundled `catalog.yaml` is the default; a project's `rampway.yaml` extends or overrides it
with a `catalog:` list. Entries merge by (provider, model): an override may name only the fields
it changes (e.g. a negotiated price), a new entry must give the required ones.

Cost convention: `Usage.input_tokens` counts *all* prompt tokens, `cached_tokens` is the subset
served from the provider's prompt cache (OpenAI's convention; the Anthropic adapter normalizes to
it). So cost = uncached_in * input + cached * cached + out * output, per 1M tokens.

An override may leave out `provider` when the model name is unique in the catalog.

Example:
    catalog = Catalog.load([{"provider": "sim", "model": "sim-large", "input_per_mtok": 2.0}])
    catalog.cost("sim", "sim-large", Usage(1000, 200, 0))   # 0.004
    catalog.get("sim", "sim-large").context_window          # 128000
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from rampway.errors import ConfigError
from rampway.providers.types import Message, Usage

_REQUIRED = ("provider", "model", "input_per_mtok", "output_per_mtok", "context_window")
_PRICES = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
_DATES = ("deprecation_date", "retirement_date")
_FIELDS = frozenset(
    (*_REQUIRED, "cached_input_per_mtok", "max_output", *_DATES, "successor", "unsupported_params")
)
#: Release params a catalog entry may declare unsupported (reasoning models refuse sampling ones).
PARAM_NAMES = frozenset(
    ("temperature", "max_tokens", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One catalog entry. Prices are USD per 1M tokens; dates are calendar days (UTC)."""

    provider: str
    model: str
    input_per_mtok: float
    output_per_mtok: float
    context_window: int
    cached_input_per_mtok: float | None = None
    max_output: int | None = None
    deprecation_date: dt.date | None = None
    retirement_date: dt.date | None = None
    successor: str | None = None
    unsupported_params: tuple[str, ...] = ()  # release params the provider refuses for it

    def cost(self, usage: Usage) -> float:
        """USD for one call's usage (see the module docstring for the cached-token convention)."""
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_price = (
            self.input_per_mtok
            if self.cached_input_per_mtok is None
            else self.cached_input_per_mtok
        )
        total = (
            (usage.input_tokens - cached) * self.input_per_mtok
            + cached * cached_price
            + usage.output_tokens * self.output_per_mtok
        )
        return total / 1_000_000

    def sunsets_by(self, day: dt.date) -> bool:
        """Is the model deprecated or retired on or before `day`?"""
        return any(
            d is not None and d <= day for d in (self.deprecation_date, self.retirement_date)
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (dates as ISO strings), for `--json` output."""
        out = dataclasses.asdict(self)
        for key in _DATES:
            if out[key] is not None:
                out[key] = out[key].isoformat()
        out["unsupported_params"] = list(self.unsupported_params)
        return out


class Catalog:
    """Lookup table over ModelInfo, keyed by (provider, model). Immutable once built."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[ModelInfo]) -> None:
        self._entries: dict[tuple[str, str], ModelInfo] = {
            (e.provider, e.model): e for e in entries
        }

    @classmethod
    def bundled(cls) -> Catalog:
        """The catalog shipped with rampway (`catalog.yaml` next to this module)."""
        return cls(_bundled_entries())

    @classmethod
    def load(cls, overrides: Iterable[Any] | None = None) -> Catalog:
        """Bundled catalog with a project's `catalog:` entries merged over it."""
        base = cls.bundled()
        return base.merged(overrides or ())

    def merged(self, overrides: Iterable[Any]) -> Catalog:
        """A new catalog with `overrides` (dicts or pydantic models) merged by (provider, model)."""
        merged = dict(self._entries)
        for index, raw in enumerate(overrides):
            entry = _as_mapping(raw, f"catalog entry #{index + 1}")
            entry = _infer_provider(entry, merged, f"catalog entry #{index + 1}")
            key = (str(entry.get("provider", "")), str(entry.get("model", "")))
            where = f"catalog entry #{index + 1}"
            if all(key):
                where += f" ({key[0]}/{key[1]})"
            base = dataclasses.asdict(merged[key]) if key in merged else {}
            merged[key] = _parse_entry({**base, **_drop_none(entry)}, where)
        return Catalog(merged.values())

    def find(self, provider: str, model: str) -> ModelInfo | None:
        return self._entries.get((provider, model))

    def get(self, provider: str, model: str) -> ModelInfo:
        """The entry, or ConfigError naming what is missing and how to add it."""
        info = self._entries.get((provider, model))
        if info is None:
            raise ConfigError(
                f"unknown model {provider}/{model}: not in the model catalog; add it under "
                "`catalog:` in rampway.yaml (provider, model, input_per_mtok, output_per_mtok, "
                "context_window)"
            )
        return info

    def resolve(self, provider: str, model: str, kind: str | None = None) -> ModelInfo:
        """Entry under the provider's configured name, else under its kind (`openai`, `sim`…).

        A project may call its OpenAI provider `openai-eu`; bundled entries are keyed by kind,
        user entries usually by name, and the name wins.
        """
        info = self._entries.get((provider, model))
        if info is None and kind is not None and kind != provider:
            info = self._entries.get((kind, model))
        return info if info is not None else self.get(provider, model)

    def cost(self, provider: str, model: str, usage: Usage) -> float:
        """USD cost of one call; ConfigError if the model isn't in the catalog."""
        return self.get(provider, model).cost(usage)

    def sunsetting(self, day: dt.date) -> list[ModelInfo]:
        """Entries deprecated or retired on or before `day`."""
        return [e for e in self._entries.values() if e.sunsets_by(day)]

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(sorted(self._entries.values(), key=lambda e: (e.provider, e.model)))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


@dataclass(frozen=True, slots=True)
class Sunset:
    """A release that uses a model which is (or soon will be) deprecated or retired."""

    feature: str
    role: str  # "primary" or "fallback"
    provider: str
    model: str
    status: str  # retired | retiring | deprecated | deprecating
    date: dt.date  # the date that status refers to
    successor: str | None
    deprecation_date: dt.date | None
    retirement_date: dt.date | None

    def to_json(self, today: dt.date) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "role": self.role,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "date": self.date.isoformat(),
            "days_left": (self.date - today).days,
            "successor": self.successor,
            "deprecation_date": _iso(self.deprecation_date),
            "retirement_date": _iso(self.retirement_date),
        }


def sunset_status(info: ModelInfo, today: dt.date, horizon: dt.date) -> tuple[str, dt.date] | None:
    """The most severe lifecycle event of `info` on or before `horizon`, if any.

    Retirement outranks deprecation (calls will fail, not just warn); past outranks upcoming.
    """
    retire, deprecate = info.retirement_date, info.deprecation_date
    if retire is not None and retire <= today:
        return "retired", retire
    if retire is not None and retire <= horizon:
        return "retiring", retire
    if deprecate is not None and deprecate <= today:
        return "deprecated", deprecate
    if deprecate is not None and deprecate <= horizon:
        return "deprecating", deprecate
    return None


def find_sunsets(
    uses: Iterable[tuple[str, str, ModelInfo]], *, today: dt.date, horizon: dt.date
) -> list[Sunset]:
    """Pure check over (feature, role, model info) uses: which hit a lifecycle date by horizon."""
    found: list[Sunset] = []
    for feature, role, info in uses:
        hit = sunset_status(info, today, horizon)
        if hit is not None:
            status, day = hit
            found.append(
                Sunset(
                    feature,
                    role,
                    info.provider,
                    info.model,
                    status,
                    day,
                    info.successor,
                    info.deprecation_date,
                    info.retirement_date,
                )
            )
    return sorted(found, key=lambda s: (s.date, s.feature, s.role != "primary"))


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def estimate_tokens(
    messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None
) -> int:
    """Rough prompt size in tokens, with no tokenizer: ~4 characters per token plus framing.

    Good enough to refuse a prompt that clearly can't fit a model's context window before any
    network call, and to pick a larger-context fallback; the provider's own error stays the
    backstop for borderline cases, so the estimate errs on the low side for English text.
    """
    chars = 0
    for msg in messages:
        chars += len(msg.content or "")
        for call in msg.tool_calls or ():
            chars += len(call.name) + len(call.arguments)
    if tools:
        chars += len(json.dumps(list(tools), separators=(",", ":")))
    return math.ceil(chars / 4) + 4 * len(messages) + 3


#: Bundled data older than this is worth a warning: prices and lifecycle dates move monthly.
STALE_AFTER_DAYS = 90


def bundled_as_of() -> dt.date:
    """The day the bundled catalog's provider entries were compiled (`catalog_as_of`)."""
    return _bundled()[1]


def staleness(as_of: dt.date, today: dt.date, max_age_days: int = STALE_AFTER_DAYS) -> str | None:
    """One sentence when catalog data from `as_of` is more than `max_age_days` old, else None."""
    age = (today - as_of).days
    if age <= max_age_days:
        return None
    return (f"the bundled model catalog is from {as_of} ({age} days old, more than "
            f"{max_age_days}): prices, deprecation and retirement dates and successors may have "
            "changed since. Override or add entries under `catalog:` in rampway.yaml (e.g. "
            "`catalog: [{provider: openai, model: gpt-4o, retirement_date: 2027-01-14}]`), "
            "or upgrade rampway for a newer catalog")


def _bundled_entries() -> tuple[ModelInfo, ...]:
    return _bundled()[0]


@functools.cache
def _bundled() -> tuple[tuple[ModelInfo, ...], dt.date]:
    """Parsed once per process: a release check, a gate or a gateway start each ask for it
    several times, and the file never changes while rampway runs."""
    text = resources.files("rampway.providers").joinpath("catalog.yaml").read_text("utf-8")
    doc = _load_doc(text, "bundled catalog.yaml")
    as_of = _date(doc.get("catalog_as_of"), "catalog_as_of", "bundled catalog.yaml")
    return tuple(_parse_entries(_models(doc, "bundled catalog.yaml"), "bundled catalog")), as_of


# libyaml's parser when PyYAML was built with it: the bundled catalog parses ~10x faster.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_doc(text: str, where: str) -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  (a safe loader, C or Python)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping with a `models:` list")
    return doc


def _models(doc: Mapping[str, Any], where: str) -> list[Any]:
    models = doc.get("models")
    if not isinstance(models, list):
        raise ConfigError(f"{where}: expected a mapping with a `models:` list")
    return models


def _parse_entries(raw: Iterable[Any], where: str) -> list[ModelInfo]:
    return [
        _parse_entry(_as_mapping(item, f"{where} entry #{i + 1}"), f"{where} entry #{i + 1}")
        for i, item in enumerate(raw)
    ]


def _as_mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw


def _infer_provider(
    entry: Mapping[str, Any], known: Mapping[tuple[str, str], ModelInfo], where: str
) -> Mapping[str, Any]:
    """An override may omit `provider` when exactly one known entry has that model name."""
    model = entry.get("model")
    if entry.get("provider") is not None or not isinstance(model, str):
        return entry
    owners = sorted(p for p, m in known if m == model)
    if len(owners) > 1:
        raise ConfigError(
            f"{where} ({model}): model exists for providers {', '.join(owners)}; add `provider:`"
        )
    return {**entry, "provider": owners[0]} if owners else entry


def _drop_none(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if v is not None}


def _parse_entry(entry: Mapping[str, Any], where: str) -> ModelInfo:
    """Validate one entry; every problem is a ConfigError naming the entry."""
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = [k for k in _REQUIRED if entry.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing required field(s) {', '.join(missing)}")
    values: dict[str, Any] = {}
    for key in ("provider", "model", "successor"):
        if entry.get(key) is not None:
            values[key] = _text(entry[key], key, where)
    for key in _PRICES:
        if entry.get(key) is not None:
            values[key] = _price(entry[key], key, where)
    for key in ("context_window", "max_output"):
        if entry.get(key) is not None:
            values[key] = _count(entry[key], key, where)
    for key in _DATES:
        if entry.get(key) is not None:
            values[key] = _date(entry[key], key, where)
    if entry.get("unsupported_params") is not None:
        values["unsupported_params"] = _params(entry["unsupported_params"], where)
    return ModelInfo(**values)


def _params(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: unsupported_params must be a list of parameter names")
    unknown = sorted(set(value) - PARAM_NAMES)
    if unknown:
        raise ConfigError(
            f"{where}: unsupported_params: unknown parameter(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(PARAM_NAMES))})"
        )
    return tuple(sorted(set(value)))


def _text(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _price(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key} must be a number (USD per 1M tokens), got {value!r}")
    if value < 0 or not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _count(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value


def _date(value: Any, key: str, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: {key} must be a date YYYY-MM-DD, got {value!r}")


__all__ = [
    "STALE_AFTER_DAYS",
    "Catalog",
    "ModelInfo",
    "Sunset",
    "bundled_as_of",
    "estimate_tokens",
    "find_sunsets",
    "staleness",
    "sunset_status",
]
