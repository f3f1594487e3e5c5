"""The audit log page in Chromium with axe-core: filter, paginate, verify."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.audit import service as audit
from civicshare.partners import service as partners
from tests.browser import axe_violations
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def audited(live_settings):
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        (county,) = partners.upsert(
            session,
            [
                {
                    "key": "worcestershire-cc",
                    "name": "Worcestershire County Council",
                    "type": "county_council",
                    "status": "endorsed",
                }
            ],
        )
        sam = partners.create_person(session, email="sam@audit.example", display_name="Sam Ig")
        accounts.set_password(session, sam, TEST_PASSWORD)
        partners.add_membership(session, sam, county, ["ig_lead"])
        for number in range(60):
            audit.record(
                session,
                None,
                "share_decided",
                "dataset",
                purpose="Post-hospital care planning",
                agreement_ref="ISA-0003",
                agreement_version=2,
                dataset="worcestershire-cc/adult-social-care",
                columns=["person_token", "care_package"],
                row_count=number,
                output_sha256="ef" * 32,
                outcome="denied" if number % 10 == 0 else "allowed",
            )
    engine.dispose()


def test_an_ig_lead_filters_pages_and_verifies_the_log(page, live_server):
    page.goto(live_server + "/sign-in")
    page.get_by_label("E-mail address").fill("sam@audit.example")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server + "/audit")
    assert page.locator("h1").inner_text() == "Audit log"
    assert "page 1 of 2" in page.locator("#audit-records caption").inner_text()
    assert axe_violations(page) == []

    page.get_by_label("Outcome").select_option("denied")
    page.locator("#filter").click()
    assert "6 records" in page.locator("#audit-records caption").inner_text()
    assert axe_violations(page) == []

    page.locator("#verify-now").click()
    assert "Audit log intact" in page.locator("#verify-result").inner_text()
    assert axe_violations(page) == []
    assert page.problems == []
