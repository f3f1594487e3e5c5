"""The API shell: health, OpenAPI, problem details and the web pages."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from civicshare import db
from civicshare.app import create_app
from civicshare.demo import seed_store

MANIFEST = {
    "partners": [
        {"key": "county", "name": "Shire County Council", "type": "county_council"},
        {"key": "fire", "name": "Shire Fire and Rescue Service", "type": "fire_and_rescue"},
        {"key": "police", "name": "Shire Police", "type": "police"},
    ],
    "datasets": [
        {
            "partner": "county",
            "name": "asc_clients",
            "title": "Adult social care clients",
            "format": "csv",
            "rows": 1234,
            "columns": ["a", "b", "c"],
        },
        {
            "partner": "fire",
            "name": "hfsv",
            "title": "Home fire safety visits",
            "format": "csv",
            "rows": 56,
            "columns": ["a", "b"],
        },
    ],
}


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app, engine):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_healthz_reports_the_backend_revision_and_data_dir(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["backend"] == settings.database_backend
    assert body["database"]["status"] == "ok"
    assert body["database"]["revision"] == db.head_revision()
    assert body["data_dir"]["writable"] is True
    assert body["data_dir"]["path"] == str(settings.data_dir.resolve())


def test_healthz_says_when_the_store_needs_an_upgrade(client, engine):
    db.downgrade(engine, "base")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"]["status"] == "needs upgrade"


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path, monkeypatch):
    from civicshare.config import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == {
        "backend": "postgresql",
        "status": "unavailable",
        "error": "OperationalError",
    }


def test_openapi_and_docs_are_served_without_a_cdn(client):
    assert client.get("/openapi.json").json()["info"]["title"] == "civicshare"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/assets/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert not re.search(r"https?://(?!127\.0\.0\.1)", docs.text.replace("http://www.w3.org", ""))


def test_unknown_api_route_is_a_problem_document(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "instance": "/api/nothing-here",
    }


def test_validation_errors_name_the_field(app, engine):
    router = APIRouter()

    @router.get("/api/echo")
    def echo(count: int) -> dict:
        return {"count": count}

    app.include_router(router)
    with TestClient(app) as client:
        response = client.get("/api/echo", params={"count": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["location"] == "query.count"
    assert "query.count" in body["detail"]


def test_unexpected_errors_are_500_problems_without_internals(app, engine):
    router = APIRouter()

    @router.get("/api/boom")
    def boom() -> dict:
        raise RuntimeError("secret internal detail")

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internal detail" not in response.text
    assert response.json()["title"] == "Internal Server Error"


def test_a_domain_refusal_no_route_caught_is_a_problem_naming_the_field(app, engine):
    """Every domain raises DomainError (or a subclass); one handler answers it."""
    from civicshare.core.errors import DomainError
    from civicshare.incidents.errors import IncidentError

    router = APIRouter()

    @router.get("/api/refuse")
    def refuse() -> dict:
        raise IncidentError("The radius is too large", field="radius_m", status=422)

    app.include_router(router)
    assert issubclass(IncidentError, DomainError)
    with TestClient(app) as client:
        response = client.get("/api/refuse")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The radius is too large"
    assert response.json()["field"] == "radius_m"


def test_browsers_get_an_html_error_page(client):
    response = client.get("/no-such-page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    # Same path without asking for HTML: a problem document.
    assert client.get("/no-such-page").headers["content-type"] == "application/problem+json"


def test_home_page_shows_partners_and_what_they_share_in_counts(client, sessions):
    with db.session_scope(sessions) as session:
        seed_store(session, MANIFEST)
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert re.search(r'data-stat="partners">\s*3\s*<', html)
    assert re.search(r'data-stat="datasets">\s*2\s*<', html)
    assert re.search(r'data-stat="rows">\s*1,290\s*<', html)
    assert "Shire Police" in html and "Nothing yet" in html
    assert "Adult social care clients" in html
    assert "1 county council, 1 fire and rescue service, 1 police force." in html


def test_pages_carry_a_nonce_csp_and_no_crown(client):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'nonce="{nonce}"' in page.text
    assert "govuk-header__logotype" not in page.text and "crown" not in page.text.lower()
    assert "GDS Transport" not in page.text


def test_every_response_gets_the_security_headers_and_each_request_a_fresh_nonce(client):
    """The headers middleware (plain ASGI): API, pages, errors and assets all get the headers;
    the nonce in the CSP is the one the page used, and differs per request; /docs has no CSP;
    a response's own value of a header is kept."""
    pages = [client.get("/"), client.get("/")]
    nonces = [re.search(r"'nonce-([^']+)'", p.headers["content-security-policy"]).group(1)
              for p in pages]  # fmt: skip
    assert nonces[0] != nonces[1]
    for page, nonce in zip(pages, nonces, strict=True):
        assert f'nonce="{nonce}"' in page.text
    for response in (pages[0], client.get("/openapi.json"), client.get("/api/nothing-here")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
    docs = client.get("/docs")
    assert docs.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in docs.headers


def test_a_responses_own_security_header_is_kept(app, engine):
    from fastapi.responses import PlainTextResponse

    @app.get("/own-headers")
    def own():
        return PlainTextResponse(
            "x",
            headers={
                "Content-Security-Policy": "default-src 'none'",
                "X-Frame-Options": "SAMEORIGIN",
            },
        )

    with TestClient(app) as client:
        response = client.get("/own-headers")
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_accessibility_statement(client):
    page = client.get("/accessibility")
    assert page.status_code == 200
    assert "Accessibility statement" in page.text
    assert "Equality and Human Rights Commission" in page.text


def test_seeding_is_idempotent_and_names_a_bad_manifest_row(sessions):
    with db.session_scope(sessions) as session:
        assert seed_store(session, MANIFEST) == (3, 2, 1290)
    with db.session_scope(sessions) as session:
        assert seed_store(session, MANIFEST) == (3, 2, 1290)
    bad = {
        **MANIFEST,
        "datasets": [*MANIFEST["datasets"], {**MANIFEST["datasets"][0], "partner": "bakery"}],
    }
    with (
        pytest.raises(ValueError, match=r"manifest dataset 3 \(asc_clients\): field 'partner'"),
        db.session_scope(sessions) as session,
    ):
        seed_store(session, bad)
