"""`rampway.stats._dist` gives scipy.stats' values bit for bit, and the shadow report's
statistics no longer import scipy.stats (its import was ~0.5 s of the command's CPU); nor does the
command import the eval or rollout packages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy import stats as sps

from rampway.stats._dist import chi2_sf, norm_ppf, norm_sf, t_ppf, t_sf


def test_normal_quantile_and_tail_equal_scipy_stats_exactly() -> None:
    rng = np.random.default_rng(7)
    qs = [*rng.uniform(0, 1, 2000), *((1 + np.linspace(0.5, 0.999999, 500)) / 2), 0.5, 0.975,
          0.0, 1.0]
    assert [norm_ppf(q) for q in qs] == [float(sps.norm.ppf(q)) for q in qs]
    xs = [*rng.normal(0, 5, 2000), 0.0, 40.0, float("inf")]
    assert [norm_sf(x) for x in xs] == [float(sps.norm.sf(x)) for x in xs]


def test_t_and_chi2_are_scipy_stats() -> None:
    assert t_ppf(0.975, 7.5) == float(sps.t.ppf(0.975, 7.5))
    assert t_sf(2.1, 12.0) == float(sps.t.sf(2.1, 12.0))
    assert chi2_sf(3.3, 2) == float(sps.chi2.sf(3.3, 2))


def test_the_shadow_report_does_not_import_scipy_stats_evals_or_rollouts() -> None:
    # rampway.evals (runner, router, release specs) and rampway.rollout (repository, webhooks)
    # were ~0.4-0.6 s of the command's imports, for four text helpers and a duration parser
    code = ("import sys, rampway.cli, rampway.shadow.report, rampway.stats, "
            "rampway.cli._shadow_impl; print(sorted({m.split('.')[0] + '.' + m.split('.')[1] "
            "for m in sys.modules if m.startswith(('scipy.stats', 'rampway.evals', "
            "'rampway.rollout', 'rampway.router'))}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
