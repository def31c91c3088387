"""Browser sessions on the admin API's keys: a key entered once, kept in an HttpOnly cookie.

Why the key itself is the session: the admin API already looks a key up on every request (one
indexed read), so a revoked key stops working in the browser at once too, with no session table
to keep in step. The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other
site's page sends it), scoped to `/ui` and `Secure` over HTTPS.

Every form that changes something carries a CSRF token: an HMAC of the key, so it is bound to
this session, needs no server state, and cannot be computed by a page that cannot read the
cookie. A POST also needs an `Origin` (or `Referer`) of this very host when the browser sends
one. Pure functions, no I/O:

    >>> token = csrf_token("rwa_secret")
    >>> csrf_ok("rwa_secret", token), csrf_ok("rwa_secret", "forged"), csrf_ok("", token)
    (True, False, False)
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

COOKIE = "rampway_session"
COOKIE_PATH = "/ui"
MAX_AGE_S = 12 * 3600  # a browser left open overnight asks for the key again
_CSRF_CONTEXT = b"rampway dashboard csrf v1"


def csrf_token(key: str) -> str:
    """The token forms of this session carry (hex HMAC-SHA256 of the key)."""
    return hmac.new(_CSRF_CONTEXT, key.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_ok(key: str, token: str | None) -> bool:
    """Whether `token` is this session's; constant-time, and never for an empty key."""
    if not key or not token:
        return False
    return hmac.compare_digest(csrf_token(key), token)


def same_origin(host: str | None, origin: str | None, referer: str | None) -> bool:
    """A POST's `Origin` (else `Referer`) names this host; True when the browser sent neither.

    >>> same_origin("127.0.0.1:8787", "http://127.0.0.1:8787", None)
    True
    >>> same_origin("127.0.0.1:8787", "https://evil.example", None)
    False
    """
    claimed = origin if origin and origin != "null" else referer
    if origin == "null":
        return False
    if not claimed:
        return True
    return bool(host) and urlsplit(claimed).netloc.lower() == (host or "").lower()


def cookie_header(key: str, *, secure: bool) -> str:
    """The `Set-Cookie` value that starts a session."""
    flags = f"; Path={COOKIE_PATH}; Max-Age={MAX_AGE_S}; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={key}{flags}{'; Secure' if secure else ''}"


def clear_cookie_header(*, secure: bool) -> str:
    """The `Set-Cookie` value that ends the session."""
    flags = f"; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={flags}{'; Secure' if secure else ''}"


def safe_next(target: str | None) -> str:
    """Where to go after login: a path inside the dashboard, never another site.

    >>> safe_next("/ui/rollouts/support-bot"), safe_next("//evil.example/ui/"), safe_next(None)
    ('/ui/rollouts/support-bot', '/ui/', '/ui/')
    """
    if not target or not target.startswith("/ui/") or "\\" in target or "//" in target:
        return "/ui/"
    return target


__all__ = [
    "COOKIE",
    "COOKIE_PATH",
    "MAX_AGE_S",
    "clear_cookie_header",
    "cookie_header",
    "csrf_ok",
    "csrf_token",
    "safe_next",
    "same_origin",
]
