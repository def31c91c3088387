"""Attach every area's commands to the root app. One import per area module."""
from rampway.cli import admin as _admin  # noqa: F401
from rampway.cli import channel as _channel  # noqa: F401
from rampway.cli import doctor as _doctor  # noqa: F401
from rampway.cli import eval as _eval  # noqa: F401
from rampway.cli import events as _events  # noqa: F401
from rampway.cli import experiment as _experiment  # noqa: F401
from rampway.cli import flags as _flags  # noqa: F401
from rampway.cli import gate as _gate  # noqa: F401
from rampway.cli import importers as _importers  # noqa: F401
from rampway.cli import init as _init  # noqa: F401
from rampway.cli import models as _models  # noqa: F401
from rampway.cli import release as _release  # noqa: F401
from rampway.cli import rollout as _rollout  # noqa: F401
from rampway.cli import serve as _serve  # noqa: F401
from rampway.cli import shadow as _shadow  # noqa: F401
from rampway.cli import sim as _sim  # noqa: F401
