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

from rampway.errors import ReasonRequired


def require_reason(reason: str | None, what: str, *, option: str = "--reason",
                   param: str = "reason") -> str:
    """`reason` unchanged when it has a non-blank character, else ReasonRequired."""
    if reason is None or not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired(
            f"{what} needs a reason (it goes to the audit log): pass {option} \"…\" "
            f"(`{param}` in an API body)", param=param)
    return reason


__all__ = ["require_reason"]
