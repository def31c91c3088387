"""Bucketing must equal GrowthBook's reference JS hash, byte for byte (UTF-16 code units)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rampway.assign import bucket, fnv1a32, hash_v1, hash_v2, salt_state

HERE = Path(__file__).parent
VECTORS: list[dict[str, Any]] = json.loads((HERE / "vectors.json").read_text("utf-8"))["vectors"]


def reference_fnv(text: str) -> int:
    """Straightforward FNV-1a 32 over UTF-16 code units, written independently of rampway."""
    data = text.encode("utf-16-le", "surrogatepass")
    h = 0x811C9DC5
    for i in range(0, len(data), 2):
        h ^= int.from_bytes(data[i : i + 2], "little")
        h = (h * 16777619) % 2**32
    return h


def codepoint_fnv(text: str) -> int:
    """What GrowthBook's Python SDK did before 1.3: FNV over code points (the wrong input)."""
    h = 0x811C9DC5
    for ch in text:
        h = ((h ^ ord(ch)) * 16777619) % 2**32
    return h


def _id(v: dict[str, Any]) -> str:
    return ascii(v["seed"] + "|" + v["value"])[:40]


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_hash_matches_growthbook_js_vectors(vector: dict[str, Any]) -> None:
    seed, value = vector["seed"], vector["value"]
    assert fnv1a32(seed + value) == vector["fnv"]
    assert hash_v2(seed, value) == vector["v2"]
    assert hash_v1(seed, value) == vector["v1"]
    assert bucket(seed, value) == round(vector["v2"] * 10000)


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_vectors_agree_with_an_independent_reference(vector: dict[str, Any]) -> None:
    seed, value = vector["seed"], vector["value"]
    assert reference_fnv(seed + value) == vector["fnv"]
    assert (reference_fnv(str(reference_fnv(seed + value))) % 10000) / 10000 == vector["v2"]


def test_vectors_cover_ascii_non_ascii_and_emoji() -> None:
    texts = [v["seed"] + v["value"] for v in VECTORS]
    assert any(t.isascii() and t for t in texts)
    assert any(not t.isascii() and all(ord(c) <= 0xFFFF for c in t) for t in texts)
    assert sum(any(ord(c) > 0xFFFF for c in t) for t in texts) >= 5


def test_code_point_hashing_disagrees_outside_the_bmp() -> None:
    # Why the UTF-16 detail matters: hashing code points gives other buckets for emoji ids.
    emoji = [v for v in VECTORS if any(ord(c) > 0xFFFF for c in v["seed"] + v["value"])]
    assert all(codepoint_fnv(v["seed"] + v["value"]) != v["fnv"] for v in emoji)
    bmp = [v for v in VECTORS if all(ord(c) <= 0xFFFF for c in v["seed"] + v["value"])]
    assert all(codepoint_fnv(v["seed"] + v["value"]) == v["fnv"] for v in bmp)


def test_salt_state_continues_the_hash_of_the_salt() -> None:
    from rampway.assign import bucket_from_state

    for salt, unit in [("s", "u"), ("flag😀", "user-é"), ("", "x")]:
        assert bucket_from_state(salt_state(salt), unit) == bucket(salt, unit)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_reference_agrees_on_random_ids() -> None:
    import random

    rng = random.Random(7)
    alphabet = "ab-_09éü東😀🇩🇪\U0010ffff"
    inputs = [
        [f"salt{i % 5}", "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))]
        for i in range(300)
    ]
    out = subprocess.run(
        ["node", str(HERE / "gb_hash.js")],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for row in json.loads(out):
        assert hash_v2(row["seed"], row["value"]) == row["v2"]
        assert hash_v1(row["seed"], row["value"]) == row["v1"]


def test_growthbook_python_sdk_agrees_when_installed() -> None:
    core = pytest.importorskip("growthbook.core")
    utf16 = core.fnv1a32("😀") == reference_fnv("😀")  # true from growthbook 1.3 on
    for v in VECTORS:
        text = v["seed"] + v["value"]
        if utf16 or all(ord(c) <= 0xFFFF for c in text):
            assert core.gbhash(v["seed"], v["value"], 2) == hash_v2(v["seed"], v["value"])
