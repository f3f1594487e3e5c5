"""Every /api/ route answers 401 without credentials; the public pages answer without them."""

from __future__ import annotations

import re

import pytest

from civicshare.app import create_app


def api_routes(app):
    """Every operation the OpenAPI document lists under /api/ (that is, the whole API)."""
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            for method in operations:
                yield method.upper(), re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_api_route_needs_credentials(client, settings):
    routes = list(api_routes(create_app(settings)))
    assert len(routes) >= 10  # the test must not pass by finding nothing
    for method, path in routes:
        response = client.request(method, path, json={})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_public_pages_answer_without_credentials(client):
    for path in ("/", "/accessibility", "/healthz", "/docs", "/openapi.json", "/sign-in"):
        assert client.get(path).status_code == 200, path
