"""Session cookie, CSRF token, origin check, post-login target and form reading: pure rules."""

from __future__ import annotations

import pytest

from rampway.dashboard.forms import FORM_TYPE, parse_form
from rampway.dashboard.session import (
    clear_cookie_header,
    cookie_header,
    csrf_ok,
    csrf_token,
    safe_next,
    same_origin,
)
from rampway.errors import RequestError


def test_csrf_token_is_bound_to_the_key() -> None:
    token = csrf_token("rwa_a")
    assert csrf_ok("rwa_a", token) and len(token) == 64
    assert not csrf_ok("rwa_b", token) and not csrf_ok("rwa_a", None)
    assert not csrf_ok("rwa_a", "0" * 64) and not csrf_ok("", csrf_token(""))


def test_cookie_is_http_only_strict_and_scoped() -> None:
    assert cookie_header("rwa_k", secure=False) == (
        "rampway_session=rwa_k; Path=/ui; Max-Age=43200; HttpOnly; SameSite=Strict")
    assert cookie_header("rwa_k", secure=True).endswith("; Secure")
    assert "Max-Age=0" in clear_cookie_header(secure=False)


@pytest.mark.parametrize(("origin", "referer", "ok"), [
    (None, None, True),
    ("http://gw:8787", None, True),
    ("http://GW:8787", None, True),
    (None, "http://gw:8787/ui/rollouts/x", True),
    ("http://evil.example", "http://gw:8787/ui/", False),
    ("null", None, False),
    (None, "http://gw:9999/ui/", False),
])
def test_same_origin(origin: str | None, referer: str | None, ok: bool) -> None:
    assert same_origin("gw:8787", origin, referer) is ok


@pytest.mark.parametrize(("target", "expected"), [
    ("/ui/features/a", "/ui/features/a"), ("/api/v1/keys", "/ui/"), ("//evil/ui/", "/ui/"),
    ("/ui/\\evil", "/ui/"), ("https://evil/ui/", "/ui/"), ("", "/ui/"),
])
def test_safe_next(target: str, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(("body", "ctype", "param"), [
    (b"reason=x", "application/json", "content-type"),
    (b"reason=%ff", FORM_TYPE, "body"),
    (b"\xff=1", FORM_TYPE, "body"),
    (b"reason=a%00b", FORM_TYPE, "reason"),
    (b"&".join(b"f%d=1" % i for i in range(30)), FORM_TYPE, "body"),
    (b"reason=" + b"x" * 4001, FORM_TYPE, "reason"),
])
def test_bad_forms_are_refused_naming_the_field(body: bytes, ctype: str, param: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_form(body, ctype)
    assert caught.value.param == param


def test_a_good_form() -> None:
    assert parse_form(b"reason=looks+odd&reason=second&csrf=ab", f"{FORM_TYPE}; charset=utf-8") \
        == {"reason": "looks odd", "csrf": "ab"}
    assert parse_form(b"", FORM_TYPE) == {}
