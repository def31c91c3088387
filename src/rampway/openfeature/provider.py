"""An in-process OpenFeature provider over rampway flags (for the official `openfeature-sdk`).

    from openfeature import api
    from rampway.openfeature.provider import RampwayProvider

    api.set_provider(RampwayProvider.from_store(store))          # follows admin API changes
    client = api.get_client()
    client.get_boolean_value("support-bot.enabled", True,
                             EvaluationContext("user-42", {"plan": "free"}))

The targeting key is the evaluation unit (percentages and splits hash it) and is also visible
to conditions as `targetingKey`; the other context attributes are the condition attributes.
Typed accessors map to flag types: boolean → bool, string → string, integer and float →
number (an integer read of 2.5 is TYPE_MISMATCH), object → json. Errors never raise: the
caller's default comes back with OpenFeature's reason ERROR and error code, as the SDK expects.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata

from rampway.errors import RampwayError
from rampway.flags import Evaluation, FlagSet, FlagType, Reason, load_flag_files
from rampway.flags.store import FlagStore
from rampway.store import Store

log = logging.getLogger("rampway.openfeature")

FlagSource = Callable[[], FlagSet]


class StoreFlags:
    """The store's flags, reloaded when the control version moves (checked every `interval` s).

    A failed reload keeps the flags it had: evaluation must not start failing because the
    database blinked.
    """

    def __init__(self, store: Store, interval: float = 0.25) -> None:
        self._flags = FlagStore(store)
        self._store = store
        self._interval = interval
        self._checked = -math.inf
        self._version: int | None = None
        self._current = FlagSet({}, {})

    def __call__(self) -> FlagSet:
        now = time.monotonic()
        if now - self._checked >= self._interval:
            self._checked = now
            try:
                version = self._store.control_version()
                if version != self._version:
                    self._current, self._version = self._flags.flagset(), version
            except RampwayError as exc:
                log.warning("flag reload failed (keeping the previous flags): %s", exc)
        return self._current


def context_of(evaluation_context: EvaluationContext | None) -> tuple[dict[str, Any], str | None]:
    if evaluation_context is None:
        return {}, None
    context = dict(evaluation_context.attributes)
    unit = evaluation_context.targeting_key or None
    if unit is not None:
        context["targetingKey"] = unit
    return context, unit


def _error(default: Any, code: str, message: str | None) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        value=default,
        reason=OFReason.ERROR,
        error_code=OFErrorCode[code],
        error_message=message,
    )


def _convert(value: Any, wanted: str) -> tuple[bool, Any]:
    """(ok, value) for the numeric accessors and objects; strings and bools pass as they are."""
    if wanted == "integer":
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return isinstance(value, int) and not isinstance(value, bool), value
    if wanted == "float":
        return True, float(value)
    if wanted == "object":
        return isinstance(value, Mapping | list), value
    return True, value


class RampwayProvider(AbstractProvider):
    """OpenFeature provider evaluating rampway flags in this process (no network)."""

    def __init__(self, flags: FlagSet | FlagSource) -> None:
        super().__init__()
        self._source: FlagSource = flags if callable(flags) else (lambda: flags)

    @classmethod
    def from_files(cls, paths: Iterable[str | PathLike[str]]) -> RampwayProvider:
        """Flags from `flags/*.yaml` files (validated; FlagError names file:line)."""
        return cls(load_flag_files(paths))

    @classmethod
    def from_store(cls, store: Store, interval: float = 0.25) -> RampwayProvider:
        """Flags from the store, following changes (admin API, `flags push`) within ~interval."""
        return cls(StoreFlags(store, interval))

    def get_metadata(self) -> Metadata:
        return Metadata(name="rampway")

    def _resolve(
        self, flag_type: FlagType, wanted: str, key: str, default: Any,
        evaluation_context: EvaluationContext | None,
    ) -> FlagResolutionDetails[Any]:
        context, unit = context_of(evaluation_context)
        result: Evaluation = self._source().evaluate(key, context, unit, expected_type=flag_type)
        if result.reason is Reason.ERROR and result.error_code is not None:
            return _error(default, result.error_code.value, result.error_message)
        ok, value = _convert(result.value, wanted)
        if not ok:
            return _error(default, "TYPE_MISMATCH", f"flag '{key}' value {value!r} is not {wanted}")
        metadata: dict[str, str | int] = {"flagType": flag_type.value}
        if result.rule_index is not None:
            metadata["ruleIndex"] = result.rule_index
        return FlagResolutionDetails(
            value=value,
            reason=OFReason[result.reason.value],
            variant=result.variant,
            flag_metadata=metadata,
        )

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(FlagType.BOOL, "boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(FlagType.STRING, "string", flag_key, default_value,
                             evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve(FlagType.NUMBER, "integer", flag_key, default_value,
                             evaluation_context)

    def resolve_float_details(
        self, flag_key: str, default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(FlagType.NUMBER, "float", flag_key, default_value,
                             evaluation_context)

    def resolve_object_details(
        self, flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(FlagType.JSON, "object", flag_key, default_value,
                             evaluation_context)


__all__ = ["FlagSource", "RampwayProvider", "StoreFlags", "context_of"]
