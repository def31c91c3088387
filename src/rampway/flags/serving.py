"""Flags on the serving path: the gateway's flag-evaluation step (a `Resolver` around another).

The compiled `FlagSet` lives in the control snapshot (`ControlSnapshot.flags`), which every
gateway process reloads within ~0.5 s of a change (each flag write bumps the control version),
so this step does no I/O: per call it looks up which native flags the feature has (a dict hit;
none → the inner resolver alone, no context is even built), builds the evaluation context once
and evaluates them:

    <feature>.enabled     false → answer `<feature>.fallback` if set, else FeatureDisabled (503)
    <feature>.release     serve this release id or channel instead of the inner resolution
    <feature>.model       override the model (the release's provider unless `provider/model`);
                          it becomes the first target and the release's own model and
                          fallbacks follow, so the release's safety net stays (a model the
                          gateway cannot route is skipped to the next target and counted)
    <feature>.max_tokens  cap the upstream max_tokens (the release's or the app's, if lower)

The evaluation context is the app's attributes (`user`, `plan`, `country`, … sent as
`X-Rampway-Attributes`, `metadata` or `rampway.attributes`) plus what the gateway computes,
which the app cannot override:

    feature                   the feature called
    unit                      the user unit when given; also the split unit
    session                   the session id when given; what `unit: session` rules split by
    request.estimated_tokens  prompt size estimate (~4 chars per token, tools included)
    request.tools             true when the request carries tool definitions
    request.stream            true for streamed calls
    request.modality          "json" when a JSON response_format is asked for, else "text"
    request.traffic_class     the `traffic_class` attribute if "chat"/"batch", else "chat" for
                              streamed calls or calls with a unit and "batch" for the rest
    request.protocol          "openai", "anthropic", "responses" or "sdk"
    request.date              today (UTC) as "YYYY-MM-DD": ISO dates compare as strings, so
                              `{request.date: {$lt: "2027-04-15"}}` is a rule that holds until
                              a day (the model upgrade's opt-out pin uses it)

Example rule (`flags/support-bot.yaml`): cap long prompts of free users
`{condition: {plan: free, request.estimated_tokens: {$gt: 4000}}, value: 256}`.

What was evaluated is recorded on the resolution (`Resolution.flags`, flag key → `Evaluation`)
and from there on the request's event row: every native flag of the feature that was evaluated,
also when it came out at its default (reason DEFAULT/STATIC/DISABLED, no rule). `fallback` is
only evaluated, so only recorded, when `enabled` turned the feature off: it is not consulted
otherwise. A feature without native flags evaluates nothing and records nothing (None).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rampway.errors import FeatureDisabled, RefError, ServingError
from rampway.flags._compile import FlagSet
from rampway.flags._model import Evaluation
from rampway.flags._parse import SESSION_KEY
from rampway.flags.native import is_release_id, native_name, parse_model
from rampway.gateway.call import CallInput
from rampway.gateway.control import ControlSnapshot
from rampway.gateway.resolve import ChannelResolver, Overrides, Resolution, Resolver
from rampway.providers.catalog import estimate_tokens
from rampway.release import Release

TRAFFIC_CLASSES = frozenset({"chat", "batch"})
_JSON_FORMATS = frozenset({"json_object", "json_schema"})


def request_shape(call: CallInput) -> dict[str, Any]:
    """What the gateway knows about the request itself (see the module docstring)."""
    tools = call.params.get("tools")
    fmt = call.params.get("response_format")
    declared = call.attributes.get("traffic_class")
    if declared in TRAFFIC_CLASSES:
        traffic = declared
    else:
        traffic = "chat" if call.stream or call.unit else "batch"
    return {
        "estimated_tokens": estimate_tokens(call.messages, tools),
        "tools": bool(tools),
        "stream": call.stream,
        "modality": "json" if isinstance(fmt, dict) and fmt.get("type") in _JSON_FORMATS
        else "text",
        "traffic_class": traffic,
        "protocol": call.protocol,
    }


_DAY_S = 86_400
_today_cache: tuple[int, str] = (-1, "")


def _utc_today() -> str:
    """Today's UTC date as ISO text, recomputed once per UTC day (this runs on every request)."""
    global _today_cache
    day = int(time.time()) // _DAY_S
    if _today_cache[0] != day:
        _today_cache = (day, dt.datetime.fromtimestamp(day * _DAY_S, dt.UTC).date().isoformat())
    return _today_cache[1]


def evaluation_context(call: CallInput, today: dt.date | None = None) -> dict[str, Any]:
    """App attributes, then the gateway's own keys on top (they can't be spoofed)."""
    context = dict(call.attributes)
    context["feature"] = call.feature
    date = today.isoformat() if today is not None else _utc_today()
    context["request"] = {**request_shape(call), "date": date}
    if call.unit:
        context["unit"] = call.unit
    if call.session:
        context[SESSION_KEY] = call.session
    elif SESSION_KEY in context:  # an attribute is no session id: the event row would lack it
        del context[SESSION_KEY]
    return context


@dataclass(frozen=True, slots=True)
class NativeDecision:
    """The native flags' values for one call (None: that flag does not exist).

    `evaluations` holds what was evaluated to decide (flag key → Evaluation), for the record.
    """

    enabled: bool = True
    fallback: str | None = None
    release: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    evaluations: Mapping[str, Evaluation] = field(default_factory=dict)


def decide(
    flags: FlagSet, keys: Mapping[str, str], context: Mapping[str, Any], unit: str | None
) -> NativeDecision:
    """Evaluate the feature's native flags (`keys`: native name → flag key). Pure, never raises.

    An evaluation that errs (e.g. a split rule without a unit) yields the flag default, as
    OpenFeature does; the value types were checked when the flags were written. `fallback` is
    evaluated only when `enabled` came out false, the one case it is served.
    """
    evaluated = {
        key: flags.evaluate(key, context, unit) for name, key in keys.items() if name != "fallback"
    }
    enabled = _value(evaluated, keys, "enabled") is not False
    fallback = None
    if not enabled and "fallback" in keys:
        key = keys["fallback"]
        evaluated[key] = outcome = flags.evaluate(key, context, unit)
        fallback = outcome.value
    cap = _value(evaluated, keys, "max_tokens")
    return NativeDecision(
        enabled=enabled,
        fallback=fallback,
        release=_value(evaluated, keys, "release"),
        model=_value(evaluated, keys, "model"),
        max_tokens=None if cap is None else int(cap),
        evaluations=evaluated,
    )


def _value(evaluated: Mapping[str, Evaluation], keys: Mapping[str, str], name: str) -> Any:
    key = keys.get(name)
    return None if key is None else evaluated[key].value


def native_plan(flags: FlagSet) -> dict[str, dict[str, str]]:
    """feature → {native name → flag key}, for every feature that has native flags."""
    plan: dict[str, dict[str, str]] = {}
    for key in flags.flags:
        named = native_name(key)
        if named is not None:
            plan.setdefault(named[0], {})[named[1]] = key
    return plan


class FlagResolver:
    """Applies the native flags around an inner resolver (default: the production channel).

    Pure over the snapshot like every resolver; the per-FlagSet plan is rebuilt only when the
    snapshot brings a new FlagSet object.
    """

    __slots__ = ("_flags", "_plan", "inner")

    def __init__(self, inner: Resolver | None = None) -> None:
        self.inner: Resolver = inner or ChannelResolver()
        self._flags: FlagSet | None = None
        self._plan: dict[str, dict[str, str]] = {}

    def resolve(self, call: CallInput, snapshot: ControlSnapshot) -> Resolution:
        flags = snapshot.flags
        if flags is not self._flags:
            self._plan, self._flags = native_plan(flags), flags
        keys = self._plan.get(call.feature)
        if not keys:
            return self.inner.resolve(call, snapshot)
        decision = decide(flags, keys, evaluation_context(call), call.unit)
        if not decision.enabled and decision.fallback is None:
            raise FeatureDisabled(
                f"feature {call.feature!r} is switched off (flag '{keys['enabled']}'); "
                "try again later"
            )
        if decision.release is not None:
            base = _pinned(call.feature, decision.release, snapshot, keys["release"])
        else:
            base = self.inner.resolve(call, snapshot)
        overrides = _overrides(base.release, decision, keys.get("model"))
        seen: Mapping[str, Evaluation] = decision.evaluations
        if base.flags:  # the inner resolver evaluated flags of its own: keep both
            seen = {**base.flags, **seen}
        if overrides is None:
            return Resolution(base.feature, base.release, base.arm, base.reason, base.overrides,
                              seen)
        return Resolution(base.feature, base.release, base.arm, f"{base.reason}+flags",
                          overrides, seen)


def _pinned(feature: str, value: str, snapshot: ControlSnapshot, key: str) -> Resolution:
    entry = snapshot.features.get(feature)
    if entry is None:
        raise RefError(
            f"unknown feature {feature!r}: 'model' must name a feature (GET /v1/models lists them)"
        )
    release = snapshot.pinned.get(value) if is_release_id(value) else entry.channels.get(value)
    if release is None:
        raise ServingError(f"flag '{key}' selects {value!r}, which is not loaded for {feature!r}")
    return Resolution(feature=entry, release=release, arm=value, reason="flag")


def _overrides(
    release: Release, decision: NativeDecision, model_key: str | None = None
) -> Overrides | None:
    targets = None
    if decision.model is not None:
        provider, model = parse_model(decision.model)
        chain = list(release.models)
        target = (provider or chain[0][0], model)
        if target != chain[0]:  # the override first, then the release's chain without it
            targets = (target, *(m for m in chain if m != target))
    fallback = None if decision.enabled else decision.fallback
    if targets is None and decision.max_tokens is None and fallback is None:
        return None
    return Overrides(targets=targets, max_tokens=decision.max_tokens, fallback=fallback,
                     model_flag=None if targets is None else model_key)


__all__ = [
    "FlagResolver",
    "NativeDecision",
    "decide",
    "evaluation_context",
    "native_plan",
    "request_shape",
]
