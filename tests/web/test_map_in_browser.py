"""The shared map on the incident page, in Chromium with axe-core: at the top of the page,
households clustered at the default zoom, the offline base layer's streets drawn at that zoom,
"Show on map" in the list opening a household's popup, keyboard-focusable markers with names;
on a laptop screen (1280x800) and a phone (390x844)."""

from __future__ import annotations

import pytest

from civicshare import db, demo
from civicshare.incidents import service
from civicshare.incidents.geometry import Area
from tests.browser import axe_violations
from tests.conftest import demo_store
from tests.incidents.test_incidents import FIRE, actor, agreement_ref, busiest_point

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def incident(live_settings) -> str:
    """An incident of 600 m at the busiest place of the demo county: many households near."""
    demo_store(live_settings, people=1500, seed=4)
    centre = busiest_point(live_settings)
    engine = db.make_engine(live_settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            opened = service.open_incident(
                session,
                actor(session, FIRE),
                title="Gas leak, busy street",
                kind="other",
                area=Area.circle(*centre, 600),
                agreement=agreement_ref(session),
            )
            return opened.reference
    finally:
        engine.dispose()


def open_incident_page(page, server, reference, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{server}/sign-in?next=/incidents/{reference}")
    page.get_by_label("E-mail address").fill(FIRE)
    page.get_by_label("Password", exact=True).fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith(f"/incidents/{reference}")
    page.wait_for_selector("#incident-map[data-ready='true']")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["laptop", "phone"])
def test_the_incident_map_clusters_draws_streets_and_ties_the_list(
    page, live_server, incident, width, height
):
    open_incident_page(page, live_server, incident, width, height)
    map_box = page.locator("#incident-map").bounding_box()
    assert map_box["y"] < 600, f"the map starts {map_box['y']} px down the page"
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    count = int(page.locator("#household-count").inner_text())
    assert count >= 10, "the busiest place should have many households"
    # Many households near each other: clustered at the default zoom, not a pile of markers.
    page.wait_for_selector("#incident-map .marker-cluster")
    clusters = page.locator("#incident-map .marker-cluster")
    shown = page.locator("#incident-map .app-map-pin").count()
    assert shown < count
    cluster_name = clusters.first.inner_text()
    assert "households here" in cluster_name and "select to zoom in" in cluster_name
    assert clusters.first.get_attribute("tabindex") == "0"

    # The base layer: district boundaries, and streets (SVG paths) at this zoom, from the
    # gateway's own reference data.
    page.wait_for_function(
        "Number(document.getElementById('incident-map').dataset.streets || 0) > 0"
    )
    assert page.locator("#incident-map .leaflet-streets-pane path").count() > 0
    assert page.locator("#incident-map .leaflet-districts-pane path").count() > 0

    # The map has a name, and a link past it to the list.
    canvas = page.locator("#incident-map")
    assert canvas.get_attribute("role") == "region"
    assert "households" in canvas.get_attribute("aria-label")
    assert page.locator("a.app-map__skip").get_attribute("href") == "#household-list"
    # Zoom buttons sit outside the map (no marker can slip under them) and work.
    zoom = int(canvas.get_attribute("data-zoom"))
    # An incident of 600 m opens zoomed in on it (14 on a phone, 15 on a laptop): past the
    # zoom (13) from which streets are drawn.
    assert zoom >= 14
    page.get_by_role("button", name="Zoom out on the map").click()
    page.wait_for_function(f"document.getElementById('incident-map').dataset.zoom == {zoom - 1}")
    page.get_by_role("button", name="Show everything on the map").click()
    page.wait_for_function(f"document.getElementById('incident-map').dataset.zoom == {zoom}")

    # "Show on map" on a list item zooms to that household and opens its popup.
    item = page.locator("#household-list li").nth(count // 2)
    address = item.locator("strong").inner_text()
    item.get_by_role("button", name="Show on map").click()
    popup = page.locator("#incident-map .leaflet-popup-content")
    popup.wait_for()
    assert address in popup.inner_text()
    # Focus went to the popup, so a screen reader reads it; the household's marker has its name.
    assert page.evaluate("document.activeElement.className") == "app-map-popup"
    marker = page.locator(f"#incident-map .app-map-pin[aria-label*='{address}']")
    assert marker.count() >= 1 and marker.first.get_attribute("tabindex") == "0"

    assert axe_violations(page) == []
    assert page.problems == []


def test_a_marker_opens_its_popup_from_the_keyboard(page, live_server, incident):
    open_incident_page(page, live_server, incident, 1280, 800)
    # A cluster is a button: Enter zooms in on it.
    canvas = page.locator("#incident-map")
    zoom = int(canvas.get_attribute("data-zoom"))
    page.locator("#incident-map .marker-cluster").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.getElementById('incident-map').dataset.zoom > {zoom}")
    item = page.locator("#household-list li").first
    item.get_by_role("button", name="Show on map").click()
    page.keyboard.press("Escape")  # the popup closes and focus returns to the button
    assert page.evaluate("document.activeElement.dataset.mapFeature") is not None
    marker = page.locator("#incident-map .app-map-pin[aria-label^='Priority']").first
    marker.focus()
    page.keyboard.press("Enter")
    popup = page.locator("#incident-map .leaflet-popup-content")
    popup.wait_for()
    assert popup.inner_text().split("\n")[0] in marker.get_attribute("aria-label")
    assert page.problems == []
