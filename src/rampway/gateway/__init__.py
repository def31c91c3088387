"""The serving layer: the OpenAI/Anthropic-compatible HTTP gateway and the pipeline it shares
with the in-process SDK.

    from rampway.gateway import GatewayApp, Runtime
    app = GatewayApp(Runtime.from_project(load_project()))

Extension points for later features: `rampway.gateway.resolve.Resolver` (which release serves a
call) and `rampway.gateway.hooks.Hook` (observe every call: metrics, event log, shadow capture).
"""

from __future__ import annotations

from rampway.gateway.app import GatewayApp, create_app
from rampway.gateway.call import CallInput, CallRecord
from rampway.gateway.hooks import Hook, Hooks
from rampway.gateway.pipeline import Pipeline
from rampway.gateway.resolve import ChannelResolver, Resolution, Resolver
from rampway.gateway.runtime import Runtime

__all__ = [
    "CallInput",
    "CallRecord",
    "ChannelResolver",
    "GatewayApp",
    "Hook",
    "Hooks",
    "Pipeline",
    "Resolution",
    "Resolver",
    "Runtime",
    "create_app",
]
