"""rampway: ship LLM behaviour changes like code.

Releases, eval gates, shadow traffic, staged rollouts, A/B experiments and feature flags for
prompts, models and tools.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
