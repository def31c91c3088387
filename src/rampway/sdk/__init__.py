"""The in-process SDK: the gateway's resolution, routing and event path without the HTTP hop.

    import rampway
    with rampway.Client() as client:                # project from cwd or $RAMPWAY_PROJECT
        out = client.complete("support-bot", input="Where is my order?", unit="user-42")
"""

from __future__ import annotations

from rampway.sdk._async import AsyncClient, Completion, CompletionStream
from rampway.sdk._sync import Client

__all__ = ["AsyncClient", "Client", "Completion", "CompletionStream"]
