"""Shared with you: an analyst downloads what an agreement grants, in Chromium with axe-core."""

from __future__ import annotations

import pyarrow.csv as pacsv
import pytest

from civicshare import demo
from tests.browser import axe_violations
from tests.conftest import demo_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def county(live_settings):
    demo_store(live_settings, people=500, seed=11)


def check(page) -> None:
    assert axe_violations(page) == []
    assert page.problems == []


def test_an_analyst_downloads_under_the_agreement_for_a_permitted_purpose(page, live_server):
    page.goto(live_server + "/sign-in?next=/share")
    page.get_by_label("E-mail address").fill("analyst@worcestershire-cc.example")
    page.get_by_label("Password", exact=True).fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith("/share")
    section = page.locator("section", has_text="Worcestershire Acute Hospitals NHS Trust")
    assert "ISA-0001" in section.inner_text() and "SPECIALTY" not in section.inner_text()
    check(page)

    # No purpose: refused, the form says why, and nothing is downloaded.
    section.get_by_role("button", name="Download").click()
    assert "State the purpose" in page.locator(".govuk-error-summary").inner_text()
    check(page)

    section = page.locator("section", has_text="Worcestershire Acute Hospitals NHS Trust")
    section.get_by_label("What is this download for?").select_option("discharge-planning")
    section.get_by_label("Note (optional)").fill("People leaving hospital this week")
    with page.expect_download() as download:
        section.get_by_role("button", name="Download").click()
    table = pacsv.read_csv(download.value.path())
    assert table.num_rows > 0 and "PAT_SURNAME" in table.column_names
    assert "SPECIALTY" not in table.column_names

    page.goto(live_server + "/share")
    receipts = page.locator("#receipts").inner_text()
    assert "discharge-planning" in receipts
    assert "People leaving hospital this week" in receipts
    assert f"{table.num_rows:,}" in receipts
    check(page)
