"""Reading a posted HTML form: small, URL-encoded, UTF-8, values the store can hold — else 400.

No multipart parser is needed (the dashboard's forms post a key, a reason, a token), so bodies
are read here with a hard size limit instead of through a general form library.

    >>> parse_form(b"reason=looks+odd&csrf=ab12", "application/x-www-form-urlencoded")
    {'reason': 'looks odd', 'csrf': 'ab12'}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from rampway.errors import RequestError
from rampway.gateway._common import find_unclean

MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 20
MAX_VALUE_CHARS = 4000
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_body(chunks: AsyncIterator[bytes], limit: int = MAX_FORM_BYTES) -> bytes:
    """The body, refused (400) once it passes `limit` bytes, without reading the rest."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise RequestError(f"form too large (over {limit} bytes)", param="body")
    return bytes(body)


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """Field → value (the first of repeated names); RequestError naming what is wrong."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise RequestError(f"send the form as {FORM_TYPE}", param="content-type")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(f"malformed form: {exc}", param="body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if len(value) > MAX_VALUE_CHARS:
            raise RequestError(f"{name}: longer than {MAX_VALUE_CHARS} characters", param=name)
        form.setdefault(name, value)
    problem = find_unclean(form)
    if problem is not None:
        raise RequestError(f"{problem[0]}: {problem[1]}", param=problem[0])
    return form


__all__ = ["FORM_TYPE", "MAX_FORM_BYTES", "parse_form", "read_body"]
