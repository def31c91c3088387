"""rampway: ship LLM behaviour changes like code.

Releases, eval gates, shadow traffic, staged rollouts, A/B experiments and feature flags for
prompts, models and tools.

    import rampway
    client = rampway.Client()          # or rampway.AsyncClient() — imported lazily
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rampway.sdk import AsyncClient, Client

_LAZY = {"Client", "AsyncClient"}


def __getattr__(name: str) -> Any:
    """`rampway.Client` / `rampway.AsyncClient` without importing the SDK on `import rampway`."""
    if name in _LAZY:
        from rampway import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'rampway' has no attribute {name!r}")


__all__ = ["AsyncClient", "Client", "__version__"]
