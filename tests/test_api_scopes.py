"""Every API route names the token scope it needs (or says it needs none) and its response, in
the OpenAPI document; a token without the route's scope is refused with 403 before anything
else is looked at, a token with it is not; roles still apply to a token with every scope."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from civicshare import demo
from civicshare.accounts import service as accounts
from civicshare.accounts.api import (
    NO_SCOPE,
    PUBLIC,
    REQUEST_SIGNATURE,
    SCOPE_KEY,
    SESSION,
    SIGNED_IN,
)
from civicshare.app import create_app
from tests.conftest import api_token, demo_store, post_sign_in, sqlite_settings

ADMIN = "admin@worcestershire-cc.example"  # admin and IG lead of the host partner
ANALYST = "analyst@worcestershire-cc.example"
RESPONDER = "crew.manager@hw-fire.example"
METHODS = ("get", "post", "put", "patch", "delete")
# What a file download may answer instead of a JSON model.
FILE_TYPES = (
    "text/csv",
    "application/vnd.apache.parquet",
    "application/geo+json",
    "application/zip",
)

# Path parameters: what the demo partnership has, so a token with the scope reaches the route.
DEMO_VALUES = {
    "key": "worcs-acute",
    "partner": "worcs-acute",
    "provider": "worcs-acute",
    "dataset": "acute-admissions",
    "reference": "ISA-0001",
    "action": "submit",
}
REQUIRED_QUERY = {"purpose": "Checking which token scope each API route needs."}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("scopes") / "data"
    return demo_store(sqlite_settings(data_dir, retention_interval_minutes=0), people=300)


@pytest.fixture(scope="module")
def app(store):
    return create_app(store)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


def operations(app):
    """(method, path, operation) for every /api/ route and /healthz in the OpenAPI document."""
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/") or path == "/healthz":
            for method, operation in item.items():
                if method in METHODS:
                    yield method, path, operation


def scoped_operations(app):
    return [
        (method, path, op) for method, path, op in operations(app) if op[SCOPE_KEY] not in NO_SCOPE
    ]


def names_a_model(schema: dict) -> bool:
    """A named pydantic model, or a list of them; not a bare `object`."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return names_a_model(schema.get("items", {}))
    return False


def test_every_route_declares_its_scope_and_its_response(app):
    found = list(operations(app))
    assert len(found) >= 45  # the whole API, not a few routes
    unscoped, unknown, undescribed = [], [], []
    for method, path, operation in found:
        label = f"{method.upper()} {path}"
        scope = operation.get(SCOPE_KEY)
        if scope is None:
            unscoped.append(label)
        elif scope not in accounts.SCOPES and scope not in NO_SCOPE:
            unknown.append(f"{label}: {scope}")
        successes = {
            code: response for code, response in operation["responses"].items() if code[0] == "2"
        }
        described = successes and all(
            any(
                media.split(";")[0] in FILE_TYPES or names_a_model(content.get("schema", {}))
                for media, content in response.get("content", {}).items()
            )
            or code == "204"
            for code, response in successes.items()
        )
        if not described:
            undescribed.append(label)
    assert not unscoped, f"routes with no scope (scope=PUBLIC/SIGNED_IN/SESSION): {unscoped}"
    assert not unknown, f"scopes not in accounts.SCOPES: {unknown}"
    assert not undescribed, f"routes without a response model or media type: {undescribed}"


def test_only_health_is_public_and_every_scope_is_used(app):
    scopes = {op[SCOPE_KEY]: path for _, path, op in operations(app)}
    public = [path for _, path, op in operations(app) if op[SCOPE_KEY] == PUBLIC]
    assert public == ["/healthz"]
    assert set(accounts.SCOPES) <= set(scopes), "a scope no route needs"


def request_for(path: str, operation: dict, *, demo_values: bool) -> tuple[str, dict]:
    """The URL (path parameters filled in) and query for an operation."""
    query = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = REQUIRED_QUERY.get(parameter["name"], "1")

    def fill(match: re.Match) -> str:
        name = match.group(1)
        schema = next(
            (p["schema"] for p in operation.get("parameters", []) if p["name"] == name), {}
        )
        if schema.get("type") == "integer":
            return "1" if demo_values else "999999"
        if "enum" in schema:
            return schema["enum"][0]
        return DEMO_VALUES.get(name, "no-such-thing") if demo_values else "no-such-thing"

    return re.sub(r"\{([^}]+)\}", fill, path), query


@pytest.fixture(scope="module")
def tokens(store, app):
    """For each scope a route needs: a token with every other scope, and one with only it
    (the host partner's admin and IG lead, who holds the most roles)."""
    every = set(accounts.SCOPES)
    needed = {op[SCOPE_KEY] for _, _, op in scoped_operations(app)}
    return {
        scope: (
            api_token(store, ADMIN, sorted(every - {scope}), f"all but {scope}"),
            api_token(store, ADMIN, [scope], f"only {scope}"),
        )
        for scope in sorted(needed)
    }


def call(client, method, path, operation, token, *, demo_values=True):
    url, query = request_for(path, operation, demo_values=demo_values)
    kwargs = {"params": query, "headers": {"Authorization": f"Bearer {token}"}}
    if method in ("post", "put", "patch"):
        kwargs["json"] = {}
    return client.request(method.upper(), url, **kwargs)


def scope_refusal(response) -> bool:
    return response.status_code == 403 and "does not have the scope" in response.json().get(
        "detail", ""
    )


def test_a_token_without_the_routes_scope_is_refused_first(app, client, tokens):
    wrong = []
    for method, path, operation in scoped_operations(app):
        scope = operation[SCOPE_KEY]
        without, _ = tokens[scope]
        # Real demo values and dummy ones: the scope is checked before any lookup or body.
        for demo_values in (True, False):
            response = call(client, method, path, operation, without, demo_values=demo_values)
            if not (scope_refusal(response) and scope in response.json()["detail"]):
                wrong.append((method.upper(), path, demo_values, response.status_code))
    assert not wrong, wrong


def test_a_token_with_the_routes_scope_is_not_refused_for_scope(app, client, tokens):
    wrong, answered = [], set()
    for method, path, operation in scoped_operations(app):
        _, only = tokens[operation[SCOPE_KEY]]
        response = call(client, method, path, operation, only, demo_values=method == "get")
        answered.add(response.status_code)
        if scope_refusal(response) or response.status_code >= 500:
            wrong.append((method.upper(), path, response.status_code, response.text[:200]))
    assert not wrong, wrong
    assert 200 in answered  # some routes answered in full, not only 404s and 422s


def test_routes_that_need_no_scope_say_who_may_call(app, client, store):
    kinds = {
        (method.upper(), path): op[SCOPE_KEY]
        for method, path, op in operations(app)
        if op[SCOPE_KEY] in NO_SCOPE
    }
    assert kinds[("GET", "/api/me")] == SIGNED_IN
    assert kinds[("POST", "/api/tokens")] == SESSION
    # The registration system's API: no token, an HMAC signature the route checks itself.
    assert kinds[("POST", "/api/events/registrations")] == REQUEST_SIGNATURE
    assert client.post("/api/events/registrations", json={}).status_code == 401
    one_scope = {"Authorization": f"Bearer {api_token(store, ANALYST, ['audit:read'])}"}
    assert client.get("/api/me", headers=one_scope).status_code == 200
    every = {"Authorization": f"Bearer {api_token(store, ADMIN, sorted(accounts.SCOPES))}"}
    made = client.post("/api/tokens", json={"name": "x", "scopes": ["audit:read"]}, headers=every)
    assert made.status_code == 403 and "signed-in people" in made.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_a_token_with_every_scope_still_needs_the_role(client, store):
    every = sorted(accounts.SCOPES)
    analyst = {"Authorization": f"Bearer {api_token(store, ANALYST, every, 'analyst')}"}
    responder = {"Authorization": f"Bearer {api_token(store, RESPONDER, every, 'responder')}"}
    circle = {"title": "House fire", "kind": "fire", "easting": 385000, "northing": 255000,
              "radius_m": 300}  # fmt: skip
    refusals = [
        client.post("/api/incidents", json=circle, headers=analyst),  # responders open them
        client.get("/api/audit", headers=analyst),  # IG leads
        client.get("/api/audit/verify", headers=responder),
        client.get("/api/index/status", headers=analyst),  # the host partner's IG leads, admins
        client.post("/api/index/review/1", json={"decision": "reject"}, headers=responder),
        # The provider's data providers and admins.
        client.put("/api/datasets/worcs-acute/acute-admissions/snapshots", headers=analyst),
        client.post(
            "/api/partners",
            json={"key": "new-one", "name": "New", "type": "other"},
            headers=responder,
        ),  # the partnership's admins
    ]
    for response in refusals:
        assert response.status_code == 403, (response.request.url, response.text)
        assert "scope" not in response.json()["detail"]


def test_signed_in_people_are_not_limited_by_scopes(client):
    client.cookies.clear()
    try:
        assert post_sign_in(client, ADMIN, demo.DEMO_PASSWORD).status_code == 303
        for path in ("/api/datasets", "/api/incidents", "/api/index/status", "/api/audit"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
    finally:
        client.cookies.clear()
