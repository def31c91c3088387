"""The web dashboard at `/ui/`, served by `rampway serve` on the gateway's port.

    app = create_dashboard_app(store, project=project)   # the gateway mounts it at /ui

Pages (server-rendered with Jinja2, charts drawn by the vendored uPlot, every asset inside
this package): the overview of every feature with its live health, a feature's timeline,
channels and release diff, a rollout's steps, weights and guardrail looks with its commands, a
recorded gate report, an experiment's analysis, a shadow's report, flags with kill switches,
recent requests explained, and the audit log. Sign-in uses the admin API's keys and roles (see
`rampway.dashboard.session`).
"""

from rampway.dashboard.app import PREFIX, create_dashboard_app

__all__ = ["PREFIX", "create_dashboard_app"]
