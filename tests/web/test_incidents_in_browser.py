"""A responder opens an incident on the map, sees the households, breaks glass with a reason,
and the IG lead of a partner whose data was seen finds it in the review queue. Chromium, with
axe-core on every page, and the map page on a phone-sized screen."""

from __future__ import annotations

import re

import pytest

from civicshare import demo
from civicshare.maps.projection import to_wgs84
from tests import browser
from tests.browser import axe_violations
from tests.conftest import demo_store
from tests.incidents.test_incidents import busiest_point

pytestmark = pytest.mark.browser
REASON = "Crews evacuating Severn Lane need to know who cannot get out unaided"


@pytest.fixture(scope="module", autouse=True)
def county(live_settings):
    demo_store(live_settings, people=1500, seed=4)
    return busiest_point(live_settings)


def check(page) -> None:
    assert axe_violations(page) == []
    assert page.problems == []


def sign_in(page, server, email, next_path):
    browser.sign_in(page, server, email, demo.DEMO_PASSWORD, next_path)


def test_responder_opens_an_incident_breaks_glass_and_the_ig_lead_reviews(
    page, live_server, county
):
    sign_in(page, live_server, "crew.manager@hw-fire.example", "/incidents")
    assert page.url.endswith("/incidents")
    check(page)
    page.get_by_role("button", name="Open an incident").click()
    assert page.url.endswith("/incidents/new")
    page.wait_for_selector("#incident-map.leaflet-container")
    page.wait_for_selector("#incident-map svg path", state="attached")  # district boundaries
    check(page)

    # Select on the map: the centre fields follow the click.
    page.locator("#incident-map").click(position={"x": 200, "y": 150})
    assert re.fullmatch(r"5\d\.\d{6}", page.get_by_label("Latitude").input_value())
    assert re.fullmatch(r"-\d\.\d{6}", page.get_by_label("Longitude").input_value())
    # Then put the centre exactly where the test wants it (a busy street).
    lon, lat = to_wgs84(*county)
    page.get_by_label("Title").fill("House fire, Severn Lane")
    page.get_by_label("Kind of incident").select_option("fire")
    page.get_by_label(re.compile("Vulnerable households at an incident")).check()
    page.get_by_label("Latitude").fill(f"{lat:.6f}")
    page.get_by_label("Longitude").fill(f"{lon:.6f}")
    page.get_by_label("Radius (metres)").fill("600")
    page.get_by_role("button", name="Open incident").click()
    assert re.search(r"/incidents/INC-\d{4}$", page.url)
    reference = page.url.rsplit("/", 1)[1]

    count = int(page.locator("#household-count").inner_text())
    rows = page.locator("#households tbody tr")
    assert count > 0 and rows.count() == count
    page.wait_for_selector("#incident-map[data-ready='true']")
    assert page.locator("#household-list li").count() == count  # the list beside the map
    # Priority is a number as well as a colour, on the map and in the list.
    page.locator("#household-list li").first.get_by_role("button", name="Show on map").click()
    first = page.locator(".app-map-pin[aria-label^='Priority ']").first.get_attribute("aria-label")
    assert first.startswith("Priority ")
    priorities = [int(r.split()[0]) for r in rows.locator("td:first-child").all_inner_texts()]
    assert priorities == sorted(priorities)
    check(page)

    # On a phone-sized screen the page does not scroll sideways; the table scrolls in its box.
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("#incident-map").bounding_box()["width"] <= 375
    page.set_viewport_size({"width": 1280, "height": 900})

    # Named detail needs break-glass: the link leads to the form first.
    # (A row without the fire service's own records: those it sees without break-glass.)
    water_row = rows.filter(has_text="Mercia Water").filter(has_not_text="Fire and Rescue").first
    water_row.get_by_role("link", name=re.compile("Named detail")).click()
    assert "#break-glass" in page.url
    page.get_by_label("Why do you need named details now?").fill(REASON)
    page.get_by_role("button", name="Break glass").click()
    assert "/households/" in page.url, page.locator("main").inner_text()[:1500]
    assert page.locator("h2").count() >= 1
    assert "Mercia Water" in page.locator("main").inner_text()
    check(page)

    page.goto(f"{live_server}/incidents/{reference}/log")
    log = page.locator("#log").inner_text()
    assert "Break glass" in log and REASON in log and "Named detail" in log
    check(page)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, "ig.lead@mercia-water.example", "/incidents/reviews")
    assert page.url.endswith("/incidents/reviews")
    review = page.locator("section.app-review", has_text=reference)
    assert REASON in review.inner_text() and "Pending" in review.inner_text()
    check(page)
    review.get_by_label("Appropriate", exact=True).check()
    review.get_by_label("Comment").fill("Necessary to evacuate; proportionate")
    review.get_by_role("button", name="Record review").click()
    review = page.locator("section.app-review", has_text=reference)
    assert "Appropriate" in review.inner_text() and "proportionate" in review.inner_text()
    check(page)
