"""The web dashboard at `/ui/`, served by `rampway serve` on the gateway's port.

    app = create_dashboard_app(store, project=project)   # the gateway mounts it at /ui

Pages (server-rendered with Jinja2, charts drawn by the vendored uPlot, every asset inside
this package): the overview of every feature with its live health, a feature's timeline and
channels, and a rollout's steps, weights and guardrail looks with its commands. Sign-in uses the
admin API's keys and roles (see `rampway.dashboard.session`).
"""

from rampway.dashboard.app import PREFIX, create_dashboard_app

__all__ = ["PREFIX", "create_dashboard_app"]
