"""The discharge model card and the discharge team's list in Chromium with axe-core: a
discharge lead at the acute trust reads the model card (its plots drawn on the server), opens
the list of current inpatients and downloads it."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.discharge import service
from tests.browser import axe_violations
from tests.conftest import demo_store
from tests.web.test_works_in_browser import sign_in

pytestmark = pytest.mark.browser
TRUST = "provider@worcs-acute.example"


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=3000, seed=5)
    engine = db.make_engine(live_settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            service.train(session, live_settings, via="cli")
    finally:
        engine.dispose()
    return live_settings


def test_the_model_card_and_the_list(page, county, live_server):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, TRUST, "/")
    page.get_by_role("link", name="Discharge planning").click()
    page.wait_for_url("**/discharge")
    assert page.locator("#performance tbody tr").count() == 3
    assert page.locator("#calibration-plot svg polyline").count() == 3
    assert page.locator("#roc-plot svg polyline").count() == 3
    assert page.locator("#subgroups tbody tr").count() >= 10
    assert axe_violations(page) == []

    page.get_by_role("link", name="Discharge team's list").click()
    page.wait_for_url("**/discharge/list")
    rows = page.locator("#inpatients tbody tr")
    assert rows.count() >= 1
    assert rows.first.locator("strong.govuk-tag").count() == 1  # the risk band
    assert axe_violations(page) == []
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the list (CSV)").click()
    text = download.value.path().read_text()
    assert text.splitlines()[0].startswith("spell_id,site,admitted")
    assert len(text.splitlines()) == rows.count() + 1

    page.get_by_role("link", name="Demand forecast").click()
    page.wait_for_url("**/discharge/forecast")
    assert page.locator("#forecast-chart svg polyline").count() == 2
    assert axe_violations(page) == []
    assert page.problems == []
