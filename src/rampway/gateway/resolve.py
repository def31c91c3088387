"""Resolution: which release serves this call. A pluggable, pure step over the control snapshot.

The gateway serves each feature's `production` channel (`ChannelResolver`), split by a running
rollout or experiment when there is one. Flags are a further `Resolver` on this same seam: they
receive the call and the snapshot and return a `Resolution` naming the release and the arm — no
I/O, no clock, so they can be tested with plain data and run in the SDK too.

A resolver that evaluates flags says which, with what outcome, in `Resolution.flags` (flag key
→ `rampway.flags.Evaluation`): the event log stores them on the request's row, so an analysis
can tell which rule of `support-bot.model` served a request. The flag step
(`rampway.flags.serving.FlagResolver`) records the feature's native flags there, after whatever
its inner resolver recorded. Pass the evaluations on as they come out of `FlagSet.evaluate`
(they are shared, immutable objects): no per-request copies on the hot path.

Example:
    res = ChannelResolver("production").resolve(call, snapshot)
    res.release.id, res.arm      # 'support-bot@3f2a9c1e', 'production'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rampway.errors import RefError
from rampway.experiments.repo import CHANNEL as EXPERIMENT_CHANNEL
from rampway.gateway.call import CallInput
from rampway.gateway.control import ControlSnapshot, FeatureEntry
from rampway.release import Release

if TYPE_CHECKING:
    from rampway.flags import Evaluation


@dataclass(frozen=True, slots=True)
class Overrides:
    """What a resolution step changes about the upstream call, beyond picking the release.

    `targets` replaces the release's (provider, model) chain — a model flag puts its model first
    and keeps the release's own chain behind it; `max_tokens` caps the request's; `fallback`
    answers with this text and calls no provider at all (a kill switch's answer); `model_flag`
    names the flag that chose the first target (response header `x-rampway-override`).
    """

    targets: tuple[tuple[str, str], ...] | None = None
    max_tokens: int | None = None
    fallback: str | None = None
    model_flag: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    feature: FeatureEntry
    release: Release
    arm: str  # what metrics and events group by: a channel name now, an allocation arm later
    reason: str = "channel"
    overrides: Overrides | None = None
    flags: Mapping[str, Evaluation] | None = None  # evaluated for this call; None: no flags


class Resolver(Protocol):
    def resolve(self, call: CallInput, snapshot: ControlSnapshot) -> Resolution: ...


class ChannelResolver:
    """Serve the release a channel points to (default `production`); arm = channel name.

    While a staged rollout of that channel runs (`rampway.rollout`), the unit's arm decides:
    `candidate` → the rollout's candidate release, `baseline` → the channel's release. While
    an A/B experiment of the feature runs (`rampway.experiments`, production channel only), the
    unit's arm serves its release with arm = the arm's name; units outside the coverage and
    requests without a unit are not in it (arm = the channel's name).

    The unit is the allocation's: `call.unit` (the user), or `call.session` for a rollout or
    experiment declared `unit: session`. A session-unit allocation never falls back to the
    user unit: a request without a session id is a request without a unit there.
    """

    __slots__ = ("channel",)

    def __init__(self, channel: str = "production") -> None:
        self.channel = channel

    def resolve(self, call: CallInput, snapshot: ControlSnapshot) -> Resolution:
        entry = snapshot.features.get(call.feature)
        if entry is None:
            raise RefError(
                f"unknown feature {call.feature!r}: 'model' must name a feature "
                "(GET /v1/models lists them)"
            )
        release = entry.channels.get(self.channel)
        if release is None:
            raise RefError(f"feature {call.feature!r} has no release on channel '{self.channel}'")
        rollout = snapshot.rollouts.get(call.feature)
        if rollout is None or rollout.baseline_channel != self.channel:
            return self._experiment(call, snapshot, entry, release)
        # A staged rollout of this channel: sticky on the unit (no unit: per request, not sticky)
        unit = call.session if rollout.by_session else call.unit
        arm, release_id = rollout.choose(unit or call.request_id)
        if arm == "candidate":
            release = snapshot.rollout_releases[release_id]
        return Resolution(feature=entry, release=release, arm=arm, reason="rollout")

    def _experiment(
        self, call: CallInput, snapshot: ControlSnapshot, entry: FeatureEntry, release: Release
    ) -> Resolution:
        """A running experiment's arm for this unit (arm = the arm's name); production, under
        the channel's name, for units outside its coverage; the control's release, also under
        the channel's name, for requests without a unit (they are not counted)."""
        experiment = snapshot.experiments.get(call.feature)
        if experiment is None or self.channel != EXPERIMENT_CHANNEL:
            return Resolution(feature=entry, release=release, arm=self.channel)
        unit = call.session if experiment.by_session else call.unit
        if not unit:
            control = snapshot.experiment_releases[experiment.control.release_id]
            return Resolution(feature=entry, release=control, arm=self.channel,
                              reason="experiment-no-unit")
        chosen = experiment.choose(unit)
        if chosen is None:
            return Resolution(feature=entry, release=release, arm=self.channel)
        arm, release_id = chosen
        return Resolution(feature=entry, release=snapshot.experiment_releases[release_id],
                          arm=arm, reason="experiment")


__all__ = ["ChannelResolver", "Overrides", "Resolution", "Resolver"]
