"""The upgrade candidate of a release: same release, successor model. Pure, no I/O.

A provider's deprecation is a behaviour change waiting to happen; the first step is a candidate
that differs from what production serves *only* in the model, so the gate measures the model and
nothing else. What changes:

* the primary model → `--to MODEL`, else the catalog's successor (followed along the chain while
  the successor is itself going away within the window; a loop is an error);
* each fallback that is itself deprecated or retiring within the window → its successor (dropped
  when that is already the primary or another fallback; kept, with a warning, when there is none);
* params the new primary cannot take (catalog `unsupported_params`, `max_tokens` above its
  `max_output`) are dropped or capped — and every such change is listed in the plan, never silent.

    plan = plan_upgrade(release, catalog, {"sim": "sim"}, today=date(2027, 1, 10),
                        horizon=date(2027, 4, 10))
    plan.description     # 'sim-large → sim-large-2, reason: deprecation 2027-02-01'
    plan.candidate.id    # 'support-bot@…' (prompts, tools, response format untouched)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rampway.errors import ConfigError
from rampway.providers.catalog import Catalog, ModelInfo, sunset_status
from rampway.release import Release, ReleaseSpec

_REASONS = {"retired": "retirement", "retiring": "retirement", "deprecated": "deprecation",
            "deprecating": "deprecation"}


@dataclass(frozen=True, slots=True)
class Swap:
    """One model slot that changed: `after` None means the fallback was dropped as a repeat."""

    role: str  # "primary" or "fallbacks[i]"
    before: str  # provider/model
    after: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "before": self.before, "after": self.after,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ParamChange:
    """A release param the new model cannot take as it was: dropped or capped, with why."""

    name: str
    before: Any
    after: Any  # None = dropped
    why: str

    def render(self) -> str:
        done = "dropped" if self.after is None else f"capped to {self.after}"
        return f"params.{self.name}={self.before!r} {done}: {self.why}"

    def to_json(self) -> dict[str, Any]:
        return {"param": self.name, "before": self.before, "after": self.after, "why": self.why}


@dataclass(frozen=True, slots=True)
class UpgradePlan:
    base: Release
    candidate: Release
    swaps: tuple[Swap, ...]
    params: tuple[ParamChange, ...]
    warnings: tuple[str, ...]
    reason: str  # "deprecation 2027-02-01", "retirement …", "successor in the catalog", "--to"
    old_retirement: dt.date | None = None  # when the base's primary stops being served

    @property
    def feature(self) -> str:
        return self.base.feature

    @property
    def description(self) -> str:
        """`sim-large → sim-large-2, reason: deprecation 2027-02-01` (+ fallbacks, params)."""
        primary = self.swaps[0] if self.swaps and self.swaps[0].role == "primary" else None
        parts = [] if primary is None else [f"{_bare(primary.before)} → {_bare(primary.after)}"]
        parts += [f"{s.role} {_bare(s.before)} → {_bare(s.after) if s.after else 'dropped'}"
                  for s in self.swaps if s.role != "primary"]
        text = f"{'; '.join(parts)}, reason: {self.reason}"
        if self.params:
            text += "; " + "; ".join(p.render() for p in self.params)
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "base": self.base.id,
            "candidate": self.candidate.id,
            "description": self.description,
            "reason": self.reason,
            "swaps": [s.to_json() for s in self.swaps],
            "params": [p.to_json() for p in self.params],
            "warnings": list(self.warnings),
        }


def _bare(model: str | None) -> str:
    return "-" if model is None else model.partition("/")[2] or model


def plan_upgrade(
    release: Release,
    catalog: Catalog,
    kinds: Mapping[str, str],
    *,
    today: dt.date,
    horizon: dt.date,
    to: str | None = None,
) -> UpgradePlan:
    """The candidate for `release`; ConfigError (one sentence) when there is nothing to move to."""
    lookup = _Lookup(catalog, kinds)
    provider, model = release.models[0]
    current = lookup.info(provider, model)
    if to is not None:
        new_provider, new_model = _parse_target(to, provider)
        new_info = lookup.info(new_provider, new_model)
        if (new_provider, new_model) == (provider, model):
            raise ConfigError(f"{release.feature} already uses {provider}/{model}")
        reason = _sunset_reason(current, today, horizon) or "requested with --to"
        primary: tuple[str, str, ModelInfo] | None = (new_provider, new_model, new_info)
    elif current.successor is not None:
        new_info = lookup.successor(provider, current, today, horizon)
        reason = _sunset_reason(current, today, horizon) or "successor in the catalog"
        primary = (provider, new_info.model, new_info)
    else:
        primary, reason = None, ""
    swaps: list[Swap] = []
    target = (provider, model, current)
    if primary is not None:
        target = primary
        swaps.append(Swap("primary", f"{provider}/{model}", f"{primary[0]}/{primary[1]}", reason))
    fallbacks, fb_swaps, warnings = _fallbacks(release, lookup, target, today, horizon)
    swaps += fb_swaps
    if not swaps:
        raise ConfigError(
            f"{provider}/{model} has no successor in the catalog and no fallback of "
            f"{release.feature} is going away: nothing to upgrade (pass --to MODEL)"
        )
    if not reason:
        reason = fb_swaps[0].reason
    params, changes = _params(release.spec, target[2])
    data = release.spec.to_json()
    data.update(provider=target[0], model=target[1], fallbacks=fallbacks, params=params)
    candidate = Release(release.feature, ReleaseSpec.model_validate(data), release.files)
    if target[2].context_window < current.context_window:
        warnings.append(f"{target[1]} has a smaller context window ({target[2].context_window} "
                        f"tokens) than {model} ({current.context_window})")
    return UpgradePlan(release, candidate, tuple(swaps), tuple(changes), tuple(warnings), reason,
                       current.retirement_date)


def _parse_target(text: str, provider: str) -> tuple[str, str]:
    owner, slash, name = text.strip().partition("/")
    if not slash:
        return provider, owner
    if not owner or not name:
        raise ConfigError(f"--to: expected MODEL or PROVIDER/MODEL, got {text!r}")
    return owner, name


def _sunset_reason(info: ModelInfo, today: dt.date, horizon: dt.date) -> str | None:
    hit = sunset_status(info, today, horizon)
    return None if hit is None else f"{_REASONS[hit[0]]} {hit[1].isoformat()}"


class _Lookup:
    """Catalog lookups under a provider's configured name or its kind, with one-line errors."""

    def __init__(self, catalog: Catalog, kinds: Mapping[str, str]) -> None:
        self.catalog, self.kinds = catalog, kinds

    def find(self, provider: str, model: str) -> ModelInfo | None:
        kind = self.kinds.get(provider)
        found = self.catalog.find(provider, model)
        return found if found is not None or kind is None else self.catalog.find(kind, model)

    def info(self, provider: str, model: str) -> ModelInfo:
        found = self.find(provider, model)
        if found is None:
            if provider not in self.kinds:
                raise ConfigError(f"provider {provider!r} (for {model}) is not configured in "
                                  "rampway.yaml")
            raise ConfigError(f"unknown model {provider}/{model}: not in the model catalog; add "
                              "it under `catalog:` in rampway.yaml")
        return found

    def successor(self, provider: str, info: ModelInfo, today: dt.date,
                  horizon: dt.date) -> ModelInfo:
        """The successor, followed while it is itself going away by `horizon`."""
        seen = [info.model]
        current = info
        while current.successor is not None:
            if current.successor in seen:
                chain = " → ".join([*seen, current.successor])
                raise ConfigError(f"successor loop in the model catalog: {chain}")
            nxt = self.find(provider, current.successor)
            if nxt is None:
                raise ConfigError(
                    f"successor {current.successor} of {provider}/{current.model} is not in the "
                    "model catalog; add it under `catalog:` in rampway.yaml or pass --to MODEL")
            seen.append(nxt.model)
            current = nxt
            if not current.sunsets_by(horizon):
                break
        return current


def _fallbacks(
    release: Release,
    lookup: _Lookup,
    primary: tuple[str, str, ModelInfo],
    today: dt.date,
    horizon: dt.date,
) -> tuple[list[str], list[Swap], list[str]]:
    kept: list[str] = []
    swaps: list[Swap] = []
    warnings: list[str] = []
    taken = {f"{primary[0]}/{primary[1]}"}
    for index, (provider, model) in enumerate(release.models[1:]):
        name, role = f"{provider}/{model}", f"fallbacks[{index}]"
        info = lookup.find(provider, model)
        why = None if info is None else _sunset_reason(info, today, horizon)
        new = name
        if info is not None and why is not None:
            if info.successor is None:
                warnings.append(f"fallback {name} ({why}) has no successor: kept")
            else:
                new = f"{provider}/{lookup.successor(provider, info, today, horizon).model}"
        if new in taken:
            swaps.append(Swap(role, name, None, f"{why}; {new} is already used"
                              if new != name else f"{name} is now the primary"))
            continue
        if new != name:
            swaps.append(Swap(role, name, new, why or ""))
        taken.add(new)
        kept.append(new)
    return kept, swaps, warnings


def _params(spec: ReleaseSpec, info: ModelInfo) -> tuple[dict[str, Any], list[ParamChange]]:
    params = spec.params.model_dump(mode="json", exclude_none=True)
    why = f"{info.model} does not support it (model catalog)"
    changes = [ParamChange(name, params.pop(name), None, why)
               for name in info.unsupported_params if name in params]
    cap = info.max_output
    if cap is not None and params.get("max_tokens", 0) > cap:
        changes.append(ParamChange("max_tokens", params["max_tokens"], cap,
                                   f"{info.model} produces at most {cap} tokens"))
        params["max_tokens"] = cap
    return params, changes


__all__ = ["ParamChange", "Swap", "UpgradePlan", "plan_upgrade"]
