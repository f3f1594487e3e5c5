"""Signing in, choosing a membership, and the partnership pages, in Chromium with axe-core."""

from __future__ import annotations

from datetime import date

import pytest

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.partners import service as partners
from tests import browser
from tests.browser import axe_violations
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def partnership(live_settings):
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        bromsgrove, redditch, county = partners.upsert(
            session,
            [
                {
                    "key": "bromsgrove-dc",
                    "name": "Bromsgrove District Council",
                    "type": "district_council",
                    "status": "endorsed",
                },
                {
                    "key": "redditch-bc",
                    "name": "Redditch Borough Council",
                    "type": "district_council",
                    "status": "endorsed",
                },
                {
                    "key": "worcestershire-cc",
                    "name": "Worcestershire County Council",
                    "type": "county_council",
                    "status": "endorsed",
                },
            ],
        )
        jo = partners.create_person(session, email="jo@shared.example", display_name="Jo Kaur")
        accounts.set_password(session, jo, TEST_PASSWORD)
        partners.add_membership(session, jo, bromsgrove, ["ig_lead"])
        partners.add_membership(session, jo, redditch, ["admin", "viewer"])
        priya = partners.create_person(session, email="admin@county.example", display_name="Priya")
        accounts.set_password(session, priya, TEST_PASSWORD)
        partners.add_membership(session, priya, county, ["admin"])
        charter = partners.publish_charter(
            session,
            title="Data sharing charter",
            body="We share.\n\nWe protect.",
            summary_of_changes="",
            on=date(2026, 10, 1),
        )
        partners.endorse_charter(
            session,
            county,
            charter,
            signatory_name="A Chief",
            signatory_role="Chief Executive",
            on=date(2026, 10, 2),
        )
    engine.dispose()


def check(page) -> None:
    assert axe_violations(page) == []
    assert page.problems == []


def test_sign_in_choose_a_partner_and_endorse_the_charter(page, live_server):
    page.goto(live_server + "/charter")
    # Not signed in: sent to sign in, then back to where they were going.
    assert page.url.startswith(live_server + "/sign-in")
    check(page)
    page.get_by_label("E-mail address").fill("jo@shared.example")
    page.get_by_label("Password", exact=True).fill("wrong password!!")
    page.get_by_role("button", name="Sign in").click()
    assert page.locator(".govuk-error-summary").is_visible()
    assert "not right" in page.locator(".govuk-error-summary").inner_text()
    check(page)

    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Two memberships: asked which partner to act for.
    assert "/choose-membership" in page.url
    check(page)
    page.get_by_role("button", name="Continue").click()
    assert page.locator(".govuk-error-summary").is_visible()
    check(page)
    page.get_by_label("Bromsgrove District Council").check()
    page.get_by_role("button", name="Continue").click()
    assert page.url == live_server + "/charter"
    assert "acting for Bromsgrove District Council (IG lead)" in " ".join(
        page.locator(".app-account-bar").inner_text().split()
    )
    check(page)

    page.get_by_role("button", name="Record endorsement").click()
    assert (
        "Enter the name of the person who signed"
        in page.locator(".govuk-error-summary").inner_text()
    )
    check(page)
    page.get_by_label("Name of the person who signed").fill("Kevin Dicks")
    page.get_by_label("Their role").fill("Chief Executive")
    page.get_by_role("button", name="Record endorsement").click()
    row = page.locator("#endorsements tr", has_text="Bromsgrove District Council")
    assert "Kevin Dicks, Chief Executive" in row.inner_text()
    check(page)


def test_partner_pages_show_members_only_to_that_partners_admin(page, live_server):
    page.goto(live_server + "/sign-in")
    page.get_by_label("E-mail address").fill("jo@shared.example")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Bromsgrove District Council").check()
    page.get_by_role("button", name="Continue").click()

    page.goto(live_server + "/partners")
    assert page.locator("#partners tbody tr").count() == 3
    check(page)
    page.get_by_role("link", name="Redditch Borough Council").click()
    # Acting for Bromsgrove (IG lead), Jo is not Redditch's admin here.
    assert page.locator("#members").count() == 0
    check(page)

    page.get_by_role("link", name="Switch partner").click()
    page.get_by_label("Redditch Borough Council").check()
    page.get_by_role("button", name="Continue").click()
    page.goto(live_server + "/partners/redditch-bc")
    assert "Jo Kaur" in page.locator("#members").inner_text()
    check(page)


def test_api_token_created_in_the_browser_is_shown_once(page, live_server):
    page.goto(live_server + "/sign-in?next=/account/tokens")
    page.get_by_label("E-mail address").fill("jo@shared.example")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Redditch Borough Council").check()
    page.get_by_role("button", name="Continue").click()
    assert page.url.endswith("/account/tokens")
    check(page)
    page.get_by_label("What is it for?").fill("nightly extract")
    page.get_by_label("partners:read").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("cs_")
    check(page)
    response = page.request.get(
        live_server + "/api/me", headers={"authorization": f"Bearer {secret}"}
    )
    assert response.json()["partner_key"] == "redditch-bc"
    page.goto(live_server + "/account/tokens")
    assert page.locator("#new-token").count() == 0
    assert secret not in page.content()


def sign_in_as(page, live_server, email: str, next_path: str = "/") -> None:
    browser.sign_in(page, live_server, email, TEST_PASSWORD, next_path)


def test_the_partnership_admin_manages_partners_members_and_the_charter(page, live_server):
    sign_in_as(page, live_server, "admin@county.example", "/partners")
    assert page.url.endswith("/partners")
    # Invite: refused with each missing field named, then accepted.
    page.get_by_role("button", name="Invite partner").click()
    summary = page.locator(".govuk-error-summary").inner_text()
    assert "Enter the organisation's full name" in summary and "Select the kind" in summary
    check(page)
    page.get_by_label("Organisation name").fill("Wyre Forest District Council")
    page.get_by_label("Short key").fill("wyre-forest-dc")
    page.get_by_label("Type of organisation").select_option("district_council")
    page.get_by_role("button", name="Invite partner").click()
    assert page.url.endswith("/partners/wyre-forest-dc")
    assert "Invited" in page.locator(".govuk-summary-list").inner_text()
    check(page)

    # Details, by keyboard-reachable disclosure.
    page.get_by_text("Change these details").click()
    page.get_by_label("Data protection officer", exact=True).fill("Rhian Price")
    page.get_by_role("button", name="Save details").click()
    assert "Rhian Price" in page.locator(".govuk-summary-list").inner_text()

    # A member: a new person needs a name; then added with two roles.
    page.get_by_label("Work e-mail address").fill("ig@wyreforest.example")
    page.get_by_label("IG lead").check()
    page.get_by_role("button", name="Save member").click()
    assert "This person is new here" in page.locator(".govuk-error-summary").inner_text()
    check(page)
    page.get_by_label("Name", exact=True).fill("Sam Jones")
    page.get_by_label("IG lead").check()
    page.get_by_label("Admin").check()
    page.get_by_role("button", name="Save member").click()
    row = page.locator("#members tr", has_text="Sam Jones")
    assert "Admin, IG lead" in row.inner_text()
    check(page)
    row.get_by_role("button", name="End membership").click()
    assert page.locator("#members tr", has_text="Sam Jones").count() == 0

    # Status, with a reason kept in the history.
    page.get_by_label("Suspended").check()
    page.get_by_label("Why").fill("ICO registration lapsed")
    page.get_by_role("button", name="Change status").click()
    assert "ICO registration lapsed" in page.locator("#history").inner_text()
    check(page)

    # A new charter version: everyone must endorse it again.
    page.goto(live_server + "/charter")
    page.get_by_label("What changed (optional)").fill("Adds emergency sharing.")
    page.get_by_role("button", name="Publish version 2").click()
    assert "Version 2" in page.locator("h1 + p").inner_text()
    assert "Not yet re-endorsed" in page.locator("#endorsements").inner_text()
    check(page)


def test_members_of_other_partners_cannot_use_the_admin_forms(page, live_server):
    sign_in_as(page, live_server, "jo@shared.example")
    page.get_by_label("Bromsgrove District Council").check()
    page.get_by_role("button", name="Continue").click()
    page.goto(live_server + "/partners")
    assert page.get_by_role("button", name="Invite partner").count() == 0
    page.goto(live_server + "/charter")
    assert page.get_by_role("button", name="Publish version 2").count() == 0
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        live_server + "/partners/redditch-bc/details", form={"siro": "X", "csrf_token": csrf}
    )
    # Jo is an admin at Redditch, but is acting for Bromsgrove: refused, not for want of a token.
    assert response.status == 403 and "admins manage it" in response.text()
