"""The sample app repo: every release valid, two versions per feature, realistic contents."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from rampway.config import load_project
from rampway.release import diff_releases, discover, load_checked, resolve_ref
from rampway.scaffold import write_scaffold

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def test_example_has_two_valid_releases_per_feature() -> None:
    project = load_project(EXAMPLE)
    features = discover(EXAMPLE)
    assert set(features) == {"support-bot", "extract-invoice", "capitals"}
    for feature, directory in features.items():
        current = load_checked(project, directory, feature)
        old = resolve_ref(project, feature, f"history/{feature}/v1")
        assert old.id != current.id and not diff_releases(old, current).identical
        if feature == "capitals":  # the real in-process model (rampway[local]); prompt differs
            assert old.models == current.models == [("local", "smollm2-135m-instruct")]
            continue
        assert {p for p, _ in old.models} == {"sim"}
        assert {m for _, m in current.models} <= {"sim-large", "sim-small", "sim-large-2"}


def test_support_bot_is_a_managed_chat_feature_with_tools() -> None:
    release = resolve_ref(load_project(EXAMPLE), "support-bot", None)
    assert release.spec.traffic_class == "chat" and release.spec.mode == "managed"
    assert [t.function.name for t in release.spec.tools] == ["lookup_order", "create_ticket"]
    messages = release.render({"customer_name": "Ada"}, user_message="Where is A-10442?")
    assert messages[0].role == "system" and "intent:" in (messages[0].content or "")
    assert messages[-1].content == "Where is A-10442?"


def test_extract_invoice_returns_schema_checked_json() -> None:
    release = resolve_ref(load_project(EXAMPLE), "extract-invoice", None)
    assert release.spec.traffic_class == "batch"
    request = release.base_request(release.render({}, user_message="ACME GmbH, Nr 1, 10 EUR"))
    assert request.response_format is not None
    schema = request.response_format["json_schema"]["schema"]
    good = {"vendor": "ACME GmbH", "invoice_number": "1", "total": 10.0, "currency": "EUR",
            "due_date": None}
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "currency": "euro"}, schema)


def test_init_scaffold_validates(tmp_path: Path) -> None:
    written = write_scaffold(tmp_path / "new")
    assert {"rampway.yaml", "evals/assistant/suite.yaml", "policies/assistant.yaml"} <= set(written)
    project = load_project(tmp_path / "new")
    for feature, directory in discover(project.root).items():
        load_checked(project, directory, feature)
