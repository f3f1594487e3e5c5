"""The single person discount review in Chromium with axe-core: a revenues officer runs the
review for their district, sees the ranked cases with their evidence summaries, records an
outcome, and a wrong submission shows the error beside the case."""

from __future__ import annotations

import pytest

from civicshare import demo
from tests.browser import axe_violations
from tests.conftest import demo_store

pytestmark = pytest.mark.browser
REVENUES = "revenues@worcester-city.example"


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=600, seed=5)
    return live_settings


def test_a_revenues_officer_runs_the_review_and_records_an_outcome(page, county, live_server):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/sign-in?next=/counciltax/review")
    page.get_by_label("E-mail address").fill(REVENUES)
    page.get_by_label("Password", exact=True).fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Discount review").click()
    page.wait_for_url("**/counciltax/review*")
    assert "has not been run" in page.locator("#latest-review").inner_text()
    assert axe_violations(page) == []

    page.get_by_role("button", name="Run the review now").click()
    page.wait_for_url("**/counciltax/review?district=worcester")
    rows = page.locator("#cases tbody tr")
    assert rows.count() >= 1
    first = rows.first
    assert "other" in first.inner_text() and "since the discount began" in first.inner_text()
    assert axe_violations(page) == []

    account = first.locator("td").nth(1).inner_text().split("\n")[0]
    first.get_by_label(f"Outcome for {account}").select_option("discount_removed")
    first.get_by_label(f"Note for {account}").fill("Two adults confirmed at visit")
    first.get_by_role("button", name="Record").click()
    page.wait_for_url("**/counciltax/review?district=worcester*")
    recorded = page.locator("#cases tbody tr").filter(has_text=account)
    assert "Discount removed" in recorded.inner_text()
    assert "Two adults confirmed at visit" in recorded.inner_text()

    # choosing no outcome: the error summary and the message beside that case
    recorded.get_by_label(f"Outcome for {account}").select_option("")
    recorded.get_by_role("button", name="Record").click()
    assert page.locator(".govuk-error-summary").is_visible()
    assert "is not an outcome" in page.locator(".govuk-error-message").first.inner_text()
    assert axe_violations(page) == []
    assert page.problems == []
