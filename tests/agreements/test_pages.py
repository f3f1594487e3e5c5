"""The agreement pages over HTTP: forms, refusals, documents, exports and the public register."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.accounts.api import SESSION_COOKIE
from civicshare.accounts.models import WebSession
from civicshare.agreements import service
from civicshare.agreements.service import ROPA_COLUMNS
from civicshare.app import create_app
from civicshare.partners.models import Person
from tests.agreements.conftest import complete

HTML = {"accept": "text/html"}


@pytest.fixture
def app(settings, engine):
    return create_app(settings)


def signed_in(app, sessions, actor) -> tuple[TestClient, str]:
    """A client signed in as the actor's person, acting as the actor's membership."""
    with db.session_scope(sessions) as session:
        token, web_session = accounts.start_session(session, session.get(Person, actor.person_id))
        web_session = session.get(WebSession, web_session.id)
        web_session.membership_id = actor.membership_id
        csrf = web_session.csrf_token
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set(SESSION_COOKIE, token)
    return client, csrf


def active_agreement(sessions, world, title="Discharge planning", **changes) -> str:
    today = date.today()
    with db.session_scope(sessions) as session:
        version = service.create_draft(
            session, world.acute, title=title, template_key="hospital-discharge"
        )
        service.update_draft(session, world.acute, version, complete({"start_date": today,
                             "review_date": today + timedelta(days=300), **changes}))  # fmt: skip
        service.submit(session, world.acute, version, today=today)
        service.approve(session, world.acute, version)
        service.approve(session, world.county, version)
        service.endorse(session, world.police, version, meeting_date=today, minute_reference="M1")
        service.activate(session, world.acute, version, today=today)
        return version.reference


def test_drafting_through_the_forms(app, sessions, world):
    client, csrf = signed_in(app, sessions, world.acute)
    assert client.get("/agreements", headers=HTML).status_code == 200
    refused = client.post("/agreements/new", data={"csrf_token": csrf, "title": ""}, headers=HTML)
    assert refused.status_code == 400
    assert "Enter a title for the agreement" in refused.text
    assert 'href="#title"' in refused.text
    created = client.post(
        "/agreements/new",
        data={"csrf_token": csrf, "title": "Falls referrals", "template": "blank"},
        headers=HTML,
    )
    assert created.status_code == 303
    base = created.headers["location"]
    task_list = client.get(base, headers=HTML)
    assert "You have completed 0 of 8 sections" in task_list.text
    for section in ("parties", "purpose", "basis", "items", "scope", "handling", "dpia", "dates"):
        assert client.get(f"{base}/{section}", headers=HTML).status_code == 200, section
    saved = client.post(
        f"{base}/parties",
        data={"csrf_token": csrf, "party-worcs-acute": "provider",
              "party-hw-fire": "recipient", "controller_arrangement": "separate"},
        headers=HTML,
    )  # fmt: skip
    assert saved.status_code == 303
    bad_date = client.post(
        f"{base}/dates",
        data={"csrf_token": csrf, "start_date-day": "31", "start_date-month": "2",
              "start_date-year": "2027", "emergency": "no"},
        headers=HTML,
    )  # fmt: skip
    assert bad_date.status_code == 400
    assert "Start date must be a real date" in bad_date.text
    assert 'href="#start_date-day"' in bad_date.text
    item = client.post(
        f"{base}/items",
        data={"csrf_token": csrf, "provider": "worcs-acute", "dataset": "community-health",
              "column": "service", "treatment": "identifiable", "special_category": "health"},
        headers=HTML,
    )  # fmt: skip
    assert item.status_code == 303
    check = client.get(f"{base}/check", headers=HTML)
    assert "The data items include special category data (health: service)" in check.text
    assert 'id="submit"' not in check.text
    refused = client.post(f"{base}/do/submit", data={"csrf_token": csrf}, headers=HTML)
    assert refused.status_code == 400
    assert "Before you can submit" in refused.text
    with db.session_scope(sessions) as session:
        history = [e.action for e in service.history(session, service.get(session, "ISA-0001"))]
    assert history == ["agreement_drafted", "agreement_updated", "agreement_updated"]


def test_permitted_purposes_are_drafted_on_the_form_and_shown_on_check_answers(
    app, sessions, world
):
    client, csrf = signed_in(app, sessions, world.acute)
    created = client.post(
        "/agreements/new",
        data={"csrf_token": csrf, "title": "Falls referrals", "template": "blank"},
        headers=HTML,
    )
    base = created.headers["location"]
    form = client.get(f"{base}/purpose", headers=HTML).text
    assert "Permitted purposes" in form and "Purpose of the sharing (explanation)" in form
    saved = client.post(
        f"{base}/purpose",
        data={
            "csrf_token": csrf,
            "title": "Falls referrals",
            "purposes": "falls-referral: Refer a person at risk of falls for a home visit.\n"
            "Falls Review: Review falls",
            "purpose": "Fewer falls at home.",
            "necessity": "Only the trust knows who fell.",
        },
        headers=HTML,
    )
    assert saved.status_code == 303
    with db.session_scope(sessions) as session:
        version = service.get(session, "ISA-0001").latest
        assert version.purposes == [
            {"code": "falls-referral", "description": "Refer a person at risk of falls for a "
             "home visit."},
            {"code": "Falls Review", "description": "Review falls"},
        ]  # fmt: skip
    check = client.get(f"{base}/check", headers=HTML).text
    assert "Permitted purposes (a request must name one)" in check
    assert "falls-referral – Refer a person at risk of falls for a home visit.<br>" in check
    assert "Purpose (explanation, not a restriction)" in check
    assert "The purpose code &#39;Falls Review&#39; must be lowercase words joined by" in check


def test_a_form_without_its_csrf_token_is_refused(app, sessions, world):
    client, _ = signed_in(app, sessions, world.acute)
    refused = client.post("/agreements/new", data={"title": "X", "template": "blank"})
    assert refused.status_code == 403


def test_actions_are_shown_only_to_those_allowed(app, sessions, world):
    ref = active_agreement(sessions, world)
    county, _ = signed_in(app, sessions, world.county)
    page = county.get(f"/agreements/{ref}", headers=HTML).text
    assert 'id="action-suspend"' in page and 'id="action-amend"' in page
    fire, fire_csrf = signed_in(app, sessions, world.fire)
    page = fire.get(f"/agreements/{ref}", headers=HTML)
    assert page.status_code == 200  # the IG group sees it ...
    assert 'id="actions"' not in page.text  # ... but fire is not a party
    refused = fire.post(f"/agreements/{ref}/versions/1/do/suspend",
                        data={"csrf_token": fire_csrf, "reason": "x"}, headers=HTML)  # fmt: skip
    assert refused.status_code == 403
    assert "is not a party" in refused.text
    dual, _ = signed_in(app, sessions, world.dual_as_fire)
    assert dual.get(f"/agreements/{ref}", headers=HTML).status_code == 404


def test_suspending_needs_a_reason_on_the_form(app, sessions, world):
    ref = active_agreement(sessions, world)
    client, csrf = signed_in(app, sessions, world.county)
    form = client.get(f"/agreements/{ref}/versions/1/do/suspend", headers=HTML)
    assert form.status_code == 200
    refused = client.post(f"/agreements/{ref}/versions/1/do/suspend",
                          data={"csrf_token": csrf, "reason": ""}, headers=HTML)  # fmt: skip
    assert refused.status_code == 400 and "Enter the reason to suspend" in refused.text
    done = client.post(
        f"/agreements/{ref}/versions/1/do/suspend",
        data={"csrf_token": csrf, "reason": "Breach review"},
        headers=HTML,
    )
    assert done.status_code == 303
    page = client.get(done.headers["location"], headers=HTML).text
    assert "Suspended" in page and "Breach review" in page


def test_the_register_is_public_and_names_no_people(app, sessions, world):
    ref = active_agreement(sessions, world)
    with db.session_scope(sessions) as session:
        service.create_draft(session, world.acute, title="A draft nobody should see")
    anonymous = TestClient(app)
    page = anonymous.get("/register", headers=HTML)
    assert page.status_code == 200
    assert ref in page.text and "Worcestershire Acute Hospitals NHS Trust" in page.text
    assert "Permitted purposes" in page.text
    assert "discharge-planning: Plan care and support for an adult" in page.text
    assert "A draft nobody should see" not in page.text
    for name in ("Ana Acute", "Cal County", "Dee Dual", "Vic Viewer", "Fay Fire"):
        assert name not in page.text
    rows = list(csv.reader(io.StringIO(anonymous.get("/register.csv").text)))
    assert rows[0][:3] == ["Reference", "Version", "Title"] and rows[1][0] == ref
    signin = anonymous.get("/agreements", headers=HTML, follow_redirects=False)
    assert signin.headers["location"] == "/sign-in?next=/agreements"


def test_documents_and_exports(app, sessions, world):
    ref = active_agreement(sessions, world)
    client, _ = signed_in(app, sessions, world.county)
    pdf = client.get(f"/agreements/{ref}/document.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert ref.encode() in pdf.content  # the document's title names the reference
    html = client.get(f"/agreements/{ref}/document", headers=HTML).text
    assert "Health or social care – Article 9(2)(h)" in html
    rows = list(csv.DictReader(io.StringIO(client.get("/agreements/ropa.csv").text)))
    assert list(rows[0]) == ROPA_COLUMNS
    assert [(r["Controller"], r["Role in the sharing"]) for r in rows] == [
        ("Worcestershire Acute Hospitals NHS Trust", "Provides data"),
        ("Worcestershire County Council", "Receives data"),
    ]
    assert rows[1]["Sources"] == "Worcestershire Acute Hospitals NHS Trust"
    mine = list(csv.DictReader(io.StringIO(client.get("/agreements/ropa.csv?mine=true").text)))
    assert [r["Controller"] for r in mine] == ["Worcestershire County Council"]
    book = load_workbook(io.BytesIO(client.get("/agreements/ropa.xlsx").content))
    sheet = book["Record of processing"]
    assert [c.value for c in sheet[1]] == ROPA_COLUMNS
    assert sheet.max_row == 3 and sheet["E2"].value == ref
    due = client.get("/agreements/review-due?within=365", headers=HTML).text
    assert ref in due
    # Acting for fire as a viewer, Dee's record of processing holds nothing of the agreement.
    dual, _ = signed_in(app, sessions, world.dual_as_fire)
    assert list(csv.DictReader(io.StringIO(dual.get("/agreements/ropa.csv").text))) == []


EVIL_TITLE = '=HYPERLINK("http://evil.example","Discharge planning")'
EVIL_PURPOSE = "+Plan safe discharges from hospital; -2+3 in a cell is a formula."


def test_register_and_record_of_processing_show_formulas_as_text(app, sessions, world):
    ref = active_agreement(sessions, world, title=EVIL_TITLE, purpose=EVIL_PURPOSE)
    register = TestClient(app).get("/register.csv").text
    assert '"\'=HYPERLINK(""http://evil.example"",""Discharge planning"")"' in register
    rows = list(csv.DictReader(io.StringIO(register, newline="")))
    assert (rows[0]["Reference"], rows[0]["Title"]) == (ref, "'" + EVIL_TITLE)
    assert rows[0]["Purpose"] == "'" + EVIL_PURPOSE
    client, _ = signed_in(app, sessions, world.county)
    ropa_text = client.get("/agreements/ropa.csv").text
    ropa = list(csv.DictReader(io.StringIO(ropa_text, newline="")))
    assert {r["Title"] for r in ropa} == {"'" + EVIL_TITLE}
    assert {r["Purposes of processing"][:2] for r in ropa} == {"'+"}
    for row in [*rows, *ropa]:
        assert not [v for v in row.values() if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    sheet = load_workbook(io.BytesIO(client.get("/agreements/ropa.xlsx").content)).active
    titles = {cell.value for cell in sheet["H"][1:]}
    assert titles == {"'" + EVIL_TITLE}  # a string cell, never a formula
