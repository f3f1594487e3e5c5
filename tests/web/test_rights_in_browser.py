"""The public register in plain English and objections in Chromium with axe-core: a resident,
not signed in, goes from the register to an agreement's items, its document, the charter and a
partner's page; an IG lead records an objection, first with a missing field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.linkage.models import IndexedRecord
from tests.browser import axe_violations
from tests.conftest import demo_store
from tests.web.test_works_in_browser import sign_in

pytestmark = pytest.mark.browser
IG_LEAD = "ig.lead@worcs-acute.example"


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=600, seed=5)
    return live_settings


def _a_spell(settings) -> str:
    engine = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            return session.scalars(
                select(IndexedRecord.record_id)
                .where(IndexedRecord.source == "worcs-acute/acute-admissions")
                .order_by(IndexedRecord.record_id)
            ).first()
    finally:
        engine.dispose()


def test_a_resident_reads_the_register_without_signing_in(page, county, live_server):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/register")
    assert axe_violations(page) == []
    page.locator("a[href^='/register/agreements/']").first.click()
    page.wait_for_url("**/register/agreements/*")
    rows = page.locator("table[id^='items-'] tbody tr")
    assert rows.count() >= 3
    treatments = set(page.locator(".app-item-treatment").all_inner_texts())
    assert all(t.split(":")[0] in {"Shared as is", "Pseudonymised", "Generalised", "Withheld"}
               for t in treatments)  # fmt: skip
    assert "@" in page.locator("#dpo-contacts").inner_text()
    assert axe_violations(page) == []

    page.locator("#document-link").click()
    page.wait_for_url("**/document")
    assert "Information sharing agreement in force" in page.inner_text("main")
    assert axe_violations(page) == []
    page.go_back()
    page.locator("#charter-link").click()
    page.wait_for_url("**/register/charter")
    assert page.locator("#charter-text p").count() >= 1
    assert axe_violations(page) == []

    page.goto(f"{live_server}/register/partners")
    assert axe_violations(page) == []
    page.get_by_role(
        "link", name="NHS Herefordshire and Worcestershire Integrated Care Board"
    ).click()
    page.wait_for_url("**/register/partners/hw-icb")
    assert "How NHS Herefordshire and Worcestershire" in page.locator("h1").inner_text()
    assert axe_violations(page) == []
    assert page.problems == []


def test_an_ig_lead_records_an_objection(page, county, live_server):
    spell = _a_spell(county)
    sign_in(page, live_server, IG_LEAD, "/rights/objections")
    page.goto(f"{live_server}/rights/objections")
    page.get_by_label("Purpose objected to").select_option("discharge-risk-model")
    page.get_by_label("Dataset holding one of the person's records").fill(
        "worcs-acute/acute-admissions"
    )
    page.get_by_role("button", name="Record the objection").click()  # no record id
    assert "There is a problem" in page.locator(".govuk-error-summary").inner_text()
    assert axe_violations(page) == []

    page.get_by_label("The record's id in that dataset").fill(spell)
    page.get_by_label("What the person objected to, and how they asked").fill(
        "Letter of 1 December objecting to modelling"
    )
    page.get_by_role("button", name="Record the objection").click()
    page.wait_for_url("**/rights/objections?recorded=1")
    assert "discharge-risk-model" in page.locator("#objections tbody").inner_text()
    assert axe_violations(page) == []
    assert page.problems == []
