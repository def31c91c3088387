"""Event model helpers: unit hashing, attribute selection, redaction."""

from __future__ import annotations

import pytest

from rampway.errors import ConfigError
from rampway.events.model import Redactor, hash_unit, select_attributes


def test_unit_hash_is_stable_and_not_the_unit() -> None:
    assert hash_unit("user-42") == hash_unit("user-42")
    assert hash_unit("user-42") != hash_unit("user-43")
    assert "user-42" not in (hash_unit("user-42") or "")
    assert hash_unit(None) is None
    # frozen vector: changing the hash would split every unit's history in two
    assert hash_unit("user-42") == "4795e64a42ddbae627f5a0e53e7ced13"


def test_select_attributes_keeps_configured_names_and_truncates() -> None:
    attrs = {"plan": "pro", "country": "x" * 500, "n": 3, "obj": {"a": 1}}
    assert select_attributes(attrs, ["plan"]) == {"plan": "pro"}
    out = select_attributes(attrs) or {}
    assert len(out["country"]) == 200
    assert out["n"] == 3
    assert isinstance(out["obj"], str)
    assert select_attributes({}) is None
    assert select_attributes(attrs, ["missing"]) is None


def test_redactor_masks_every_pattern() -> None:
    r = Redactor([r"\b\d{16}\b", r"[\w.]+@[\w.]+"])
    assert r.redact("card 4111111111111111 mail a.b@c.io") == "card [REDACTED] mail [REDACTED]"
    assert Redactor([]).redact("keep") == "keep"
    assert r.redact(None) is None


def test_redactor_rejects_an_invalid_pattern() -> None:
    with pytest.raises(ConfigError, match="invalid pattern"):
        Redactor(["(unclosed"])
