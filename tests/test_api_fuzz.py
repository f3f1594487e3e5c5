"""The whole OpenAPI document fuzzed by schemathesis, signed in as each demo role with every
token scope: no request may get a 5xx, and every error is a problem-details document.

Bounded: a few generated cases per operation and role (CIVICSHARE_FUZZ_EXAMPLES to raise)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from civicshare.accounts import service as accounts
from civicshare.app import create_app
from tests.conftest import api_token, demo_store, sqlite_settings

EXAMPLES = int(os.environ.get("CIVICSHARE_FUZZ_EXAMPLES", "4"))
ROLES = {
    "admin and IG lead": "admin@worcestershire-cc.example",
    "analyst": "analyst@worcestershire-cc.example",
    "data provider": "provider@worcs-acute.example",
    "responder": "crew.manager@hw-fire.example",
}


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    store = demo_store(sqlite_settings(data_dir, retention_interval_minutes=0), people=300)
    every_scope = sorted(accounts.SCOPES)
    tokens = {role: api_token(store, email, every_scope, "fuzz") for role, email in ROLES.items()}
    return store, tokens


@pytest.fixture(scope="module")
def api_schema(fuzz_store):
    store, _ = fuzz_store
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(store))


def test_no_request_gets_a_server_error(api_schema, fuzz_store):
    _, tokens = fuzz_store
    failures: list[tuple] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 45  # the whole document, not a few routes

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            for role, token in tokens.items():
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                content_type = " ".join(response.headers.get("content-type", []))
                problem = content_type.startswith("application/problem+json")
                if response.status_code >= 500 or (response.status_code >= 400 and not problem):
                    failures.append(
                        (
                            role,
                            case.method,
                            case.formatted_path,
                            response.status_code,
                            response.text[:300],
                        )
                    )

        fuzz()
    assert not failures, "\n".join(map(str, failures[:20]))
