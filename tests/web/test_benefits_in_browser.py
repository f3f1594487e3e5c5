"""The benefits page in Chromium with axe-core: the host partner's admin reads this month's
figures (a small count suppressed), changes an assumption through the form (first with a bad
number, shown beside the field) and sees the hours saved change."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.audit import service as audit
from tests.browser import axe_violations
from tests.conftest import demo_store
from tests.web.test_works_in_browser import sign_in

pytestmark = pytest.mark.browser
ADMIN = "admin@worcestershire-cc.example"  # admin and IG lead of the host partner


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=600, seed=5)
    engine = db.make_engine(live_settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            for _ in range(12):  # shown as 10: 200 minutes at 20 a delivery
                audit.record(session, None, "share_allowed", "dataset", "a/b", outcome="allowed")
            for _ in range(3):  # shown as *: saves nothing on the page
                audit.record(session, None, "discharge_list_viewed", "discharge_model", "1")
    finally:
        engine.dispose()
    return live_settings


def test_an_admin_reads_the_benefits_and_changes_an_assumption(page, county, live_server):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, ADMIN, "/benefits")
    page.goto(f"{live_server}/benefits?months=3")
    assert page.get_by_role("link", name="Benefits").count() >= 1  # in the navigation
    latest = page.locator("table.govuk-table").first
    assert "about 3.3 hours saved" in latest.locator("caption").inner_text()
    deliveries = latest.locator("tr", has=page.locator("th", has_text="Governed deliveries"))
    assert deliveries.locator("td").first.inner_text() == "10"
    lists = latest.locator("tr", has=page.locator("th", has_text="Discharge lists used"))
    assert lists.locator("td").first.inner_text().startswith("*")
    assert page.locator("table.govuk-table").count() == 3
    assert axe_violations(page) == []

    page.locator("#assumption-deliveries").get_by_role("link", name="Change").click()
    page.wait_for_url("**/benefits/assumptions/deliveries")
    assert axe_violations(page) == []
    page.get_by_label("Minutes saved per delivery").fill("half an hour")
    page.get_by_role("button", name="Save").click()
    assert "whole number" in page.locator(".govuk-error-summary").inner_text()
    assert "whole number" in page.locator("#minutes-error").inner_text()
    assert axe_violations(page) == []

    page.get_by_label("Minutes saved per delivery").fill("30")
    page.get_by_label("Why this many minutes").fill("Timed over a week of extract requests.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/benefits#assumption-deliveries")
    assert "30 minutes per delivery" in page.locator("#assumption-deliveries").inner_text()
    assert "about 5.0 hours saved" in page.locator("table.govuk-table caption").first.inner_text()
    assert axe_violations(page) == []
    assert page.problems == []
