"""The one rule for the reason of an audited write: it says something.

Every write that changes what users are served, or overrides an interlock, records a reason in
the audit log; an empty or blank one would leave the log unable to say why production changed.
The domain writes (`FlagStore`, `Store.set_channel`/`rollback`, the rollout controller's
commands, experiment starts and stops, gate overrides) call `require_reason`, so the CLI (one
line, exit 2), the admin API (422 naming the field) and the dashboard refuse the same thing
with the same words. Commands with a descriptive default (`rampway rollback` → "rollback",
`flags push` → "flags push") still pass it here; a blank one given explicitly is refused.

    require_reason("  ", "writing flag 'support-bot.enabled'")
    # ReasonRequired: writing flag 'support-bot.enabled' needs a reason (it goes to the …
"""

from __future__ import annotations

from rampway.errors import ConfigError, ReasonRequired

ANYWHERE = "pass --reason \"…\" (`reason` in an API body)"
ON_A_PAGE = "write one in the reason box"


def require_reason(reason: str | None, what: str, *, hint: str = ANYWHERE,
                   param: str = "reason") -> str:
    """`reason` unchanged when it has a non-blank character, else ReasonRequired naming
    `param`; `hint` says where to give one (the dashboard's pages: `ON_A_PAGE`)."""
    if reason is None or not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired(f"{what} needs a reason (it goes to the audit log): {hint}",
                             param=param)
    return reason


def check_actor(actor: str) -> None:
    """The audit log's other rule: every entry names who acted (ConfigError otherwise). Here,
    not in the store, so that the SQLAlchemy-free flag write checks it in the same words."""
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200:
        raise ConfigError(f"invalid actor {actor!r}: give a non-empty name (at most 200 chars)")


__all__ = ["ANYWHERE", "ON_A_PAGE", "check_actor", "require_reason"]
