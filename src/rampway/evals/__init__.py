"""Eval suites, scorers and the runner.

    suite = require_suite(project.root, "support-bot")      # evals/support-bot/suite.yaml
    run = await EvalRunner(router.complete, EvalStore(store)).run(suite, release, RunOptions())
    run.metric_means()                                     # {"quality": 0.89, "pass_rate": 0.67}

See `suite` for the file format, `scorers` for the scorer types, `runner` for caching,
resuming and concurrency.
"""

from rampway.evals.results import CaseResult, EvalRun
from rampway.evals.runner import EvalRunner, Progress, RunOptions, default_repeats
from rampway.evals.scorers import SCORER_TYPES, CaseView, Output, Score
from rampway.evals.storage import EvalStore
from rampway.evals.suite import Case, Suite, load_suite, require_suite, suite_path

__all__ = [
    "SCORER_TYPES",
    "Case",
    "CaseResult",
    "CaseView",
    "EvalRun",
    "EvalRunner",
    "EvalStore",
    "Output",
    "Progress",
    "RunOptions",
    "Score",
    "Suite",
    "default_repeats",
    "load_suite",
    "require_suite",
    "suite_path",
]
