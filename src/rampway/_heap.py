"""Keeping the cyclic GC away from a serving process's long-lived objects."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Freeze everything alive now into the permanent generation, once a server is built.

    A full (generation 2) collection walks every tracked object; with what a gateway imports
    (SQLAlchemy, pydantic, the admin app, the controller's numpy/scipy) that is ~170,000
    objects, a 70-150 ms stop of the event loop every few seconds of traffic: it was the
    gateway's p99, and the simulator's (it serves the same traffic). `gc.freeze()` moves them to
    the permanent generation, which collections never scan; what requests allocate afterwards
    is collected as usual. It is process-wide, so only processes that do nothing but serve call
    it (`rampway serve`'s workers, `rampway sim serve`), never the SDK embedded in someone
    else's application.
    """
    gc.collect()
    gc.freeze()


__all__ = ["settle_heap"]
