"""Property-based fuzzing of the admin API from its own OpenAPI document (issue #12, point 5):
whatever schemathesis generates for every operation — valid, boundary and out-of-range values,
huge ids, odd strings — the answer is never a 5xx. Runs on SQLite and PostgreSQL (the
"integer out of range" 500s only showed on PostgreSQL), bounded to a few examples per
operation so the whole run stays well under a minute per database.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import schemathesis
from admin_helpers import Keys
from gateway_helpers import Proj
from hypothesis import HealthCheck, given, settings

from rampway.admin import PREFIX, create_admin_app
from rampway.store import Store

EXAMPLES_PER_OPERATION = 12


@pytest.mark.slow
def test_no_admin_operation_answers_5xx(
    store: Store, proj: Proj, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_admin_app(store, project=proj.project)
    schema = schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app)
    headers = keys.headers("admin")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code}: {response.text[:300]}")

        with caplog.at_level(logging.ERROR):
            call()
    assert operations >= 20  # the schema was read and walked, not silently empty
    assert failures == []
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
