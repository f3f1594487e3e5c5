"""Life events in Chromium with axe-core: the registration service uploads a file with a bad row
and is shown every problem with nothing stored, then uploads the good file and sees its events
matched and who was told; the gateway's admin sees the outbox; every page passes axe."""

from __future__ import annotations

import pytest

from civicshare import demo
from civicshare.synthetic import registrations
from tests import browser
from tests.browser import axe_violations
from tests.conftest import demo_store

pytestmark = pytest.mark.browser
ADMIN = "admin@worcestershire-cc.example"  # admin of the registration service's council


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=600, seed=5)
    return live_settings


def sign_in(page, server, email, target):
    browser.sign_in(page, server, email, demo.DEMO_PASSWORD, target)


def test_publishing_deaths_and_following_them(page, county, live_server, tmp_path):
    where = county.data_dir / "synthetic"
    people = registrations.living_residents(where, 3, seed=41)
    body, entries = registrations.death_registrations(where, people, first_entry=950_001)
    good = tmp_path / "deaths.csv"
    good.write_bytes(body)
    lines = body.decode().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace("1 April 2026", "1 Apirl 2026")]) + "\n")

    sign_in(page, live_server, ADMIN, "/events")
    page.goto(f"{live_server}/events")
    assert axe_violations(page) == []
    page.get_by_label("Registrations file").set_input_files(str(bad))
    page.get_by_role("button", name="Publish").click()
    problems = page.locator("#problems + ul li")
    assert problems.first.inner_text() == (
        "row 1, date_of_death: is not a date in the format %d %B %Y"
    )
    assert page.locator("#no-events").count() == 1  # nothing stored
    assert axe_violations(page) == []

    page.get_by_label("Registrations file").set_input_files(str(good))
    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Registrations published").wait_for()
    table = page.locator("#events")
    for reference in entries:
        assert reference in table.inner_text()
    assert "matched" in table.inner_text() and "hw-icb (pending)" in table.inner_text()
    assert axe_violations(page) == []

    page.get_by_role("link", name="Deliveries (gateway admins)").click()
    page.wait_for_url("**/events/deliveries")
    assert page.locator("#outbox tbody tr").count() >= len(entries)
    assert axe_violations(page) == []
    page.get_by_role("link", name="Your webhook").click()
    page.get_by_label("Webhook URL (https)").fill("https://council.example/hooks/civicshare")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#new-secret").inner_text().startswith("New signing key k_")
    assert axe_violations(page) == []
    assert page.problems == []
