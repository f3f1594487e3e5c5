"""Uploading a file in Chromium: the report with a GOV.UK error summary, axe-clean."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.datasets import service
from civicshare.partners import service as partners
from tests.browser import axe_violations
from tests.conftest import TEST_PASSWORD
from tests.datasets.conftest import GOOD_ROWS, HEADER, simple_contract

pytestmark = pytest.mark.browser
BAD = "A4,9434765918,Green,31/02/1950,WR5 1PS,1,x,1,Y,2025-01-02 10:00,"


@pytest.fixture(scope="module", autouse=True)
def provider(live_settings):
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        (trust,) = partners.upsert(
            session,
            [
                {
                    "key": "worcs-acute",
                    "name": "Acute Trust",
                    "type": "nhs_trust",
                    "status": "endorsed",
                }
            ],
        )
        person = partners.create_person(session, email="grace@acute.example", display_name="Grace")
        accounts.set_password(session, person, TEST_PASSWORD)
        partners.add_membership(session, person, trust, ["data_provider"])
        service.register_contract(session, simple_contract())
    engine.dispose()


def test_upload_a_file_and_read_the_report(page, live_server, tmp_path):
    page.goto(live_server + "/datasets/worcs-acute/test-people")
    page.get_by_label("E-mail address").fill("grace@acute.example")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server + "/datasets/worcs-acute/test-people")
    assert axe_violations(page) == []

    bad = tmp_path / "people.csv"
    bad.write_text(HEADER + "\n".join(GOOD_ROWS + [BAD]) + "\n")
    page.get_by_label("CSV, XLSX or Parquet file").set_input_files(bad)
    page.get_by_role("button", name="Upload and check").click()
    summary = page.locator(".govuk-error-summary")
    assert "reject the file" in summary.inner_text()
    assert "fails the NHS number check digit" in page.content()
    assert "9434765918" not in page.content()
    assert axe_violations(page) == []

    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\n".join(GOOD_ROWS) + "\n")
    page.get_by_label("CSV, XLSX or Parquet file").set_input_files(good)
    page.get_by_role("button", name="Upload and check").click()
    assert "Version 1 accepted" in page.locator(".govuk-panel").inner_text()
    assert axe_violations(page) == []
    page.goto(live_server + "/datasets")
    assert "Test people" in page.content()
    assert axe_violations(page) == []
