"""The web shell in a real headless Chromium, checked by axe-core."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.demo import seed_store
from tests.browser import axe_violations
from tests.test_app import MANIFEST

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def partnership(live_settings):
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        seed_store(session, MANIFEST)
    engine.dispose()


def test_home_page_shows_the_partnership_and_passes_axe(page, live_server):
    page.goto(live_server + "/")
    assert page.title().startswith("The partnership")
    assert page.locator("h1").inner_text() == "Worcestershire Office of Data Analytics"
    rows = page.locator("#partners tbody tr")
    assert rows.count() == 3
    fire = page.locator("#partners tbody tr", has_text="Shire Fire and Rescue Service")
    assert "Home fire safety visits" in fire.inner_text()
    # The nonce'd inline script ran under the page's CSP, and GOV.UK Frontend started.
    assert "govuk-frontend-supported" in page.locator("body").get_attribute("class")
    # Styles come from our own build: GOV.UK Frontend with a system font, not GDS Transport.
    font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert "GDS Transport" not in font and "system-ui" in font
    assert axe_violations(page) == []
    assert page.problems == []


@pytest.mark.parametrize("path", ["/accessibility", "/no-such-page"])
def test_other_pages_pass_axe(page, live_server, path):
    response = page.goto(live_server + path)
    assert response.status == (404 if path == "/no-such-page" else 200)
    assert page.locator("h1").count() == 1
    assert axe_violations(page) == []
    assert page.problems == []


def test_keyboard_user_reaches_main_content_by_the_skip_link(page, live_server):
    page.goto(live_server + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main-content"


def test_api_docs_load_their_assets_locally(page, live_server):
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(live_server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert all(url.startswith(live_server) for url in requested), requested
