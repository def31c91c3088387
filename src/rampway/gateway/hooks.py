"""Extension points of the serving pipeline, as no-op hook classes (like OpenFeature's `Hook`).

Metrics, the event log and (later) shadow capture are hooks, not special cases in the handler:
subclass `Hook`, override what you need, pass it to the pipeline. Hooks run on the request path,
so they must be cheap and must not block: do I/O elsewhere (the event hook only enqueues).
A hook that raises is logged and skipped; it never fails the request it observes.

Example:
    class CountFallbacks(Hook):
        def __init__(self) -> None:
            self.n = 0
        def after_call(self, record: CallRecord) -> None:
            self.n += record.fallback_used
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rampway.gateway.call import CallRecord

if TYPE_CHECKING:
    from rampway.errors import RampwayError
    from rampway.gateway.call import CallInput

log = logging.getLogger("rampway.gateway")


class Hook:
    """Base class: every method is a no-op."""

    def before_call(self, record: CallRecord) -> None:
        """The release is resolved and the upstream request built; nothing was sent yet."""

    def after_call(self, record: CallRecord) -> None:
        """The call is over: `record.status` says ok or error; all measures are filled in."""

    def on_rejected(self, call: CallInput | None, error: RampwayError) -> None:
        """The request was refused before reaching a provider (bad input, unknown feature…).

        Rejections are not served requests: the event log records none (no partial rows).
        """


class Hooks:
    """Runs a list of hooks in order, isolating each from the others' failures."""

    __slots__ = ("_hooks",)

    def __init__(self, hooks: Sequence[Hook] = ()) -> None:
        self._hooks = tuple(hooks)

    def __iter__(self) -> Iterator[Hook]:
        return iter(self._hooks)

    def with_hook(self, hook: Hook) -> Hooks:
        return Hooks((*self._hooks, hook))

    def before_call(self, record: CallRecord) -> None:
        for hook in self._hooks:
            try:
                hook.before_call(record)
            except Exception:  # noqa: BLE001 - a broken hook must not fail the request
                log.exception("hook %s.before_call failed", type(hook).__name__)

    def after_call(self, record: CallRecord) -> None:
        for hook in self._hooks:
            try:
                hook.after_call(record)
            except Exception:  # noqa: BLE001
                log.exception("hook %s.after_call failed", type(hook).__name__)

    def on_rejected(self, call: CallInput | None, error: RampwayError) -> None:
        for hook in self._hooks:
            try:
                hook.on_rejected(call, error)
            except Exception:  # noqa: BLE001
                log.exception("hook %s.on_rejected failed", type(hook).__name__)


__all__ = ["Hook", "Hooks"]
