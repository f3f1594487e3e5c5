"""Subject access over HTTP and in the browser's pages: the rights desk opens a request, sees
its records, downloads the export; another partner's IG lead is refused the requests and
confirms its correction task; a bad date of birth is named."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.app import create_app
from civicshare.linkage.person_index.sources import person_sources
from civicshare.partners import service as partners
from tests.conftest import TEST_PASSWORD, api_token, sign_in
from tests.rights.access.conftest import IG_LEAD, true_person, true_records

ICB_LEAD = "ig.lead@hw-icb.example"


@pytest.fixture(scope="module")
def app_client(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        for email in (IG_LEAD, ICB_LEAD):
            accounts.set_password(
                session, partners.get_person_by_email(session, email), TEST_PASSWORD
            )
    with TestClient(create_app(county), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def someone(county, county_sessions) -> dict:
    with db.session_scope(county_sessions) as session:
        sources = [p.source for p in person_sources(session, county)]
    truth = true_records(county, sources)
    person_id = sorted(truth, key=lambda p: (-len({s for s, _ in truth[p]}), p))[3]
    p = true_person(county, person_id)
    return {
        "given_name": p["forename"],
        "surname": p["surname"],
        "date_of_birth": str(p["date_of_birth"]),
        "nhs_number": p["nhs_number"] or "",
    }


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_opens_a_request_and_exports_it(county, app_client, someone):
    reader = api_token(county, IG_LEAD, ["rights:read"])
    refused = app_client.post("/api/rights/access/requests", json=someone, headers=bearer(reader))
    assert refused.status_code == 403
    writer = api_token(county, IG_LEAD, ["rights:write", "rights:read"])
    opened = app_client.post("/api/rights/access/requests", json=someone, headers=bearer(writer))
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["counts"]["exported"] >= 2 and body["due_on"] > body["received_on"]
    export = app_client.get(
        f"/api/rights/access/requests/{body['reference']}/export", headers=bearer(writer)
    )
    assert export.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert "summary.html" in names and "sharing-history.csv" in names
    bad = app_client.post(
        "/api/rights/access/requests",
        json={**someone, "date_of_birth": "9 Aug 1968"},
        headers=bearer(writer),
    )
    assert bad.status_code == 422 and "date of birth" in bad.text.lower()
    other = api_token(county, ICB_LEAD, ["rights:read"])
    assert app_client.get("/api/rights/access/requests", headers=bearer(other)).status_code == 403


def test_the_pages(county, app_client, someone):
    with TestClient(create_app(county), raise_server_exceptions=False) as desk:
        csrf = sign_in(desk, IG_LEAD, "worcestershire-cc")
        page = desk.get("/rights/access")
        assert page.status_code == 200 and "Open a request" in page.text
        wrong = desk.post(
            "/rights/access", data={**someone, "nhs_number": "1234567890", "csrf_token": csrf}
        )
        assert wrong.status_code == 422 and 'href="#nhs_number"' in wrong.text
        made = desk.post("/rights/access", data={**someone, "csrf_token": csrf},
                         follow_redirects=False)  # fmt: skip
        assert made.status_code == 303, made.text
        shown = desk.get(made.headers["location"])
        assert shown.status_code == 200 and "Records found" in shown.text
        assert "confident" in shown.text
    with TestClient(create_app(county), raise_server_exceptions=False) as icb:
        sign_in(icb, ICB_LEAD)
        assert icb.get("/rights/access").status_code == 403
        tasks = icb.get("/rights/access/tasks")
        assert tasks.status_code == 200 and "Corrections to apply" in tasks.text
