"""Traffic the way users send it, for judging the judge: every user makes many requests that
are alike. Used by the A/A and power tests (tests/rollout/test_rollout_clustered.py) and by
`bench/judge_power.py`.

One simulated step: `users` users split between the arms at `share`, each making
1 + Poisson(`per_user` - 1) requests at uniform times in [0, 1). Per user:

* error propensity ~ Beta with mean `error_p` and intra-class correlation `icc`
  (a + b = 1/icc - 1), each request failing with that propensity;
* log-latency offset ~ Normal(0, s_u) with s_u^2 / (s_u^2 + s_e^2) = `icc`, around a
  median of 800 ms, per-request log-sd s_e = 0.5;
* output length: a per-user mean ~ Gamma (coefficient of variation sqrt(icc / (1 - icc)) of
  the Poisson mean, which makes its ICC about `icc` at 120 tokens), tokens ~ Poisson(mean).

The candidate's error propensities are scaled to `candidate_error_p`, its latencies by
`candidate_latency`. `looks(k)` yields the judge's view after each of k equally spaced looks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rampway.rollout.observations import Observations

MEDIAN_MS = 800.0
SIGMA_E = 0.5
TOKENS = 120.0


@dataclass(frozen=True)
class Traffic:
    users: int = 1000
    share: float = 0.5
    per_user: float = 20.0
    icc: float = 1 / 6
    error_p: float = 0.01
    candidate_error_p: float | None = None
    candidate_latency: float = 1.0

    def arm(self, rng: np.random.Generator, users: int, error_p: float,
            latency: float) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """source -> (values, unit labels, times) for one arm."""
        counts = 1 + rng.poisson(self.per_user - 1, size=users)
        units = np.repeat(np.arange(users), counts)
        n = int(counts.sum())
        times = rng.random(n)
        icc = max(self.icc, 1e-9)  # 0: independent requests
        ab = 1 / icc - 1
        propensity = rng.beta(error_p * ab, (1 - error_p) * ab, size=users)[units]
        errors = (rng.random(n) < propensity).astype(np.float64)
        s_u = SIGMA_E * np.sqrt(icc / (1 - icc))
        log_lat = (np.log(MEDIAN_MS * latency) + s_u * rng.standard_normal(users)[units]
                   + SIGMA_E * rng.standard_normal(n))
        cv = np.sqrt(icc / (1 - icc)) * 1.6
        means = rng.gamma(1 / cv**2, TOKENS * cv**2, size=users)[units]
        tokens = rng.poisson(means).astype(np.float64)
        ok = errors == 0
        return {
            "error": (errors, units, times),
            "latency_ms": (np.exp(log_lat)[ok], units[ok], times[ok]),
            "output_tokens": (tokens[ok], units[ok], times[ok]),
        }

    def looks(self, rng: np.random.Generator, k: int, *, per_request: bool = False,
              ) -> Iterator[dict[str, tuple[Observations, Observations]]]:
        """After each of `k` looks: source -> (baseline, candidate) observations so far.
        `per_request`: hand the judge every request as its own unit (the judge before it
        compared arms over units)."""
        n_c = int(rng.binomial(self.users, self.share))
        base = self.arm(rng, self.users - n_c, self.error_p, 1.0)
        cand = self.arm(rng, n_c, self.candidate_error_p or self.error_p,
                        self.candidate_latency)
        for look in range(1, k + 1):
            cut = look / k
            view = {}
            for source in base:
                view[source] = (_upto(base[source], cut, per_request),
                                _upto(cand[source], cut, per_request))
            yield view


def _upto(series: tuple[np.ndarray, np.ndarray, np.ndarray], cut: float,
          per_request: bool) -> Observations:
    values, units, times = series
    keep = times < cut
    if per_request:
        return Observations.of(values[keep])
    return Observations(values[keep], units[keep].astype(np.int64))
