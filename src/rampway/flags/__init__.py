"""Feature flags: GrowthBook-style targeting rules compiled once, evaluated in microseconds.

Pure core (no I/O except `load_flag_files`): the condition language
(`rampway.flags._conditions`, documented there), flag/rule/segment models, and `FlagSet`, whose
`evaluate(flag_key, context, unit)` returns an `Evaluation` (value, variant, reason, error code,
rule index) and never raises — OpenFeature's contract and vocabulary.

The shape of `flags/*.yaml` (and of the dict given to `FlagSet.from_dict`); every key not shown
here is an error, and segments are shared by all files loaded together:

    segments:
      beta-testers:                       # an id list matched against the evaluation unit
        ids: [u-1, u-2]
      big-customers:                      # an id list matched against an attribute
        attribute: org.id                 #   (string, number or array of them)
        ids: [acme, initech]
      paid:                               # a reusable condition
        condition: {plan: {$in: [pro, enterprise]}}

    flags:
      support-bot.model:
        type: string                      # bool | string | number | json
        default: gpt-4o-mini              # served when no rule matches (reason DEFAULT)
        enabled: true                     # false: always the default (reason DISABLED)
        description: which model answers
        rules:                            # first match wins
          - condition: {plan: free, request.estimated_tokens: {$gt: 4000}}
            value: small-model            # reason TARGETING_MATCH
            variant: free-long            # optional label reported as the variant
          - segment: beta-testers         # or `segments: [a, b]`: all must match
            value: gpt-4o
          - condition: {country: {$in: [DE, FR]}}
            percentage: 5                 # % of units (2 decimals); others fall through
            salt: model-eu-rollout        # default: the flag key
            hash_by: org.id               # default: the evaluation unit
            value: gpt-4o                 # reason SPLIT
          - percentage: 10
            unit: session                 # = hash_by: session (the request's session id)
            value: gpt-4o
          - variations:                   # a split; weights in %, summing to <= 100
              - {name: control, value: gpt-4o-mini, weight: 50}
              - {name: treatment, value: gpt-4o, weight: 50}
            percentage: 20                # optional: share of units entering the split

Percentages and splits are sticky: they use `rampway.assign` (GrowthBook's v2 hash of
salt + unit), and raising a percentage keeps every unit that was already in. Rules of one flag
share the flag key as default salt, so the 5% of one rule are inside the 10% of a later one;
give a rule its own `salt` for an independent draw. `unit: session` splits by the context's
`session` (on the serving path, the request's session id; over OFREP, a `session` context
key) instead of the evaluation unit (the user). A split rule evaluated without its unit (no
evaluation unit, no `hash_by` attribute, no session for `unit: session`) is skipped — a
session rule never falls back to the user; if nothing else matches, the result is the default
with reason ERROR and error code TARGETING_KEY_MISSING.
"""

from rampway.errors import FlagError
from rampway.flags._compile import FlagSet
from rampway.flags._conditions import OPERATORS, compile_condition
from rampway.flags._files import load_flag_files
from rampway.flags._model import (
    ErrorCode,
    Evaluation,
    Flag,
    FlagType,
    Reason,
    Rule,
    Segment,
    Variation,
)

__all__ = [
    "OPERATORS",
    "ErrorCode",
    "Evaluation",
    "Flag",
    "FlagError",
    "FlagSet",
    "FlagType",
    "Reason",
    "Rule",
    "Segment",
    "Variation",
    "compile_condition",
    "load_flag_files",
]
