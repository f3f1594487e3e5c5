"""A councillor raises an enquiry on a phone-sized screen (390 x 844), the district's
caseworker answers it, and the councillor reads the answer: Chromium, axe-core on every page,
and no page scrolls sideways."""

from __future__ import annotations

import re

import pytest

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.enquiries.demo import seed_enquiries
from civicshare.partners import service as partners
from civicshare.synthetic.partnership import PARTNERS
from tests.browser import axe_violations
from tests.conftest import TEST_PASSWORD
from tests.enquiries.conftest import (
    BROMSGROVE_CASEWORK,
    BROMSGROVE_CLLR,
    DUAL,
    STREET,
    install_reference,
)

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module", autouse=True)
def partnership(live_settings):
    install_reference(live_settings)
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        partners.upsert(session, [{**p, "status": "endorsed"} for p in PARTNERS])
        seed_enquiries(session, None)
        for email in (DUAL, BROMSGROVE_CLLR, BROMSGROVE_CASEWORK):
            person = partners.get_person_by_email(session, email)
            accounts.set_password(session, person, TEST_PASSWORD)
    engine.dispose()


def check(page) -> None:
    assert axe_violations(page) == []
    assert page.problems == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def sign_in(page, server, email, partner_name=None):
    page.goto(f"{server}/sign-in?next=/enquiries")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if partner_name:
        page.get_by_label(partner_name).check()
        page.get_by_role("button", name=re.compile("Continue")).click()
        page.goto(f"{server}/enquiries")


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()


def test_raise_answer_and_read_an_enquiry_on_a_phone(browser, live_server):
    context = browser.new_context(bypass_csp=True, viewport=PHONE)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
            and page.problems.append(f"{r.status} {r.url}"))  # fmt: skip

    sign_in(page, live_server, BROMSGROVE_CLLR)
    assert page.url.endswith("/enquiries")
    assert "You are acting as a councillor for Bromsgrove District Council." in page.inner_text(
        "#hat"
    )
    check(page)
    page.get_by_role("button", name="Raise an enquiry").click()
    check(page)
    # Left empty: the errors name each field.
    page.get_by_role("button", name="Raise enquiry").click()
    assert page.locator(".govuk-error-summary").is_visible()
    check(page)
    page.get_by_label("Topic").select_option("council-tax")
    page.get_by_label("What the resident asks").fill(
        "Asks why the single person discount stopped after her son moved out"
    )
    page.get_by_label("Postcode of the issue").fill(STREET.lower().replace(" ", ""))
    page.get_by_label("No", exact=True).check()
    page.get_by_label("Name").fill("Ada Quill")
    page.get_by_role("button", name="Raise enquiry").click()
    assert re.search(r"/enquiries/ENQ-\d{4}$", page.url)
    reference = page.url.rsplit("/", 1)[1]
    assert "Bromsgrove District Council (Council tax)" in page.inner_text("#facts")
    assert "Ada Quill" in page.inner_text("#resident")
    check(page)
    sign_out(page)

    sign_in(page, live_server, BROMSGROVE_CASEWORK)
    page.get_by_role("link", name=reference).click()
    assert "The resident did not consent" in page.inner_text("#facts")
    assert "Ada Quill" not in page.content()
    check(page)
    page.get_by_label("Your answer to the councillor").fill(
        "The discount is restored from 1 April; a new bill follows"
    )
    page.get_by_role("button", name="Send answer").click()
    assert "Answered" in page.inner_text("#status")
    check(page)
    sign_out(page)

    sign_in(page, live_server, BROMSGROVE_CLLR)
    assert page.locator("#unread-count").text_content().startswith("1")
    page.get_by_role("link", name=reference).click()
    assert "The discount is restored from 1 April" in page.inner_text("#the-answer")
    check(page)
    page.goto(f"{live_server}/notifications")  # the navigation is behind "Menu" on a phone
    assert f"Enquiry {reference} answered" in page.inner_text("#notifications")
    check(page)
    context.close()
