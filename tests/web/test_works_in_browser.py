"""The works map and the public roadworks map in Chromium with axe-core: a street works
co-ordinator sees every promoter's works on the map with the list beside it, opens one from the
list, and reaches the clash list and a street's timeline; a resident, not signed in, finds
roadworks near a postcode on a phone."""

from __future__ import annotations

import csv
from datetime import date

import pyarrow.parquet as pq
import pytest

from civicshare import demo
from civicshare.works import pages, service
from tests import browser
from tests.browser import axe_violations
from tests.conftest import demo_store

pytestmark = pytest.mark.browser
CO_ORDINATOR = "streetworks@worcestershire-cc.example"


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=600, seed=5)
    return live_settings


def sign_in(page, server, email, target):
    browser.sign_in(page, server, email, demo.DEMO_PASSWORD, target)


def test_the_works_map_lists_and_draws_every_promoters_works(page, county, live_server):
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, CO_ORDINATOR, "/works?from=2026-01-01%26to=2027-12-31")
    page.goto(f"{live_server}/works?from=2026-01-01&to=2027-12-31")
    page.wait_for_selector("#works-map[data-ready='true']")
    assert page.locator("#works-map").bounding_box()["y"] < 600
    count = int(page.locator("#works-count").inner_text())
    assert count == page.locator("#works-list li").count() > 20
    # works are lines on the map, and their markers cluster at the county-wide view
    assert page.locator("#works-map path.leaflet-interactive").count() > 0
    item = page.locator("#works-list li").first
    reference = item.locator("strong").inner_text()
    item.get_by_role("button", name="Show on map").click()
    popup = page.locator("#works-map .leaflet-popup-content")
    popup.wait_for()
    assert reference in popup.inner_text()
    assert axe_violations(page) == []

    page.get_by_role("link", name="clash").first.click()
    page.wait_for_url("**/works/clashes")
    assert page.locator("#clashes tbody tr").count() >= 4  # the synthetic county plants them
    assert axe_violations(page) == []
    page.locator("#clashes tbody tr a.govuk-link").first.click()
    page.wait_for_url("**/works/streets/*")
    assert (
        page.locator("svg.app-timeline rect").count()
        == page.locator("#street-works tbody tr").count()
    )
    assert axe_violations(page) == []
    assert page.problems == []


def test_a_resident_finds_roadworks_near_a_postcode_on_a_phone(
    page, county, live_server, monkeypatch
):
    path = county.data_dir / "synthetic" / "datasets" / "highway-works.csv"
    with path.open(newline="") as handle:
        work = next(csv.DictReader(handle))
    monkeypatch.setattr(pages, "today", lambda: date.fromisoformat(work["proposed_start_date"]))
    service.forget_public_programme()
    props = pq.read_table(
        county.data_dir / "reference" / "properties.parquet", columns=["usrn", "postcode"]
    ).to_pylist()
    postcode = next(p["postcode"] for p in props if str(p["usrn"]) == work["usrn"])

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/roadworks")
    page.get_by_label("Postcode").fill(postcode.lower())
    page.get_by_role("button", name="Find roadworks").click()
    page.wait_for_selector("#roadworks-map[data-ready='true']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    listed = page.locator("#roadworks-list li")
    assert listed.count() >= 1
    assert (
        page.locator(f"#roadworks-list [data-map-item='{work['work_reference_number']}']").count()
        == 1
    )
    listed.first.get_by_role("button", name="Show on map").click()
    page.locator("#roadworks-map .leaflet-popup-content").wait_for()
    assert axe_violations(page) == []
    assert page.problems == []
