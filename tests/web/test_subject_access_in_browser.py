"""Subject access in Chromium with axe-core: the rights desk's IG lead opens a request (first
with a missing field), identifies the person, sees the records surely theirs and the uncertain
candidates, confirms one and excludes another, sees the deadline, and downloads the export (a
ZIP of CSVs with the summary) and the summary alone."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from civicshare import db
from civicshare.rights.access import matching, service
from civicshare.rights.access.models import Match
from tests.browser import axe_violations
from tests.conftest import acting, demo_store
from tests.web.test_works_in_browser import sign_in

pytestmark = pytest.mark.browser
RIGHTS_DESK = "admin@worcestershire-cc.example"  # IG lead and admin of the host partner


@pytest.fixture(scope="module")
def county(live_settings):
    demo_store(live_settings, people=600, seed=5)
    return live_settings


def _asking(settings) -> dict[str, str]:
    """A resident's details, as they would give them without their NHS number or address (the
    postcode only), chosen so the request finds records both surely theirs and uncertain."""
    truth = Path(settings.data_dir) / "synthetic" / "truth"
    people = pq.read_table(truth / "people.parquet").to_pylist()
    postcodes = {
        r["uprn"]: r["postcode"]
        for r in pq.read_table(
            Path(settings.data_dir) / "synthetic/geography/properties.parquet"
        ).to_pylist()
    }
    engine = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            ig_lead = acting(session, RIGHTS_DESK, settings.host_partner)
            for p in sorted(people, key=lambda p: -p["age"])[:40]:
                given = {
                    "given_name": p["forename"],
                    "surname": p["surname"],
                    "date_of_birth": str(p["date_of_birth"]),
                    "postcode": postcodes.get(p["uprn"], ""),
                }
                request = service.open_request(
                    session, settings, ig_lead, matching.details(**given)
                )
                matches = [r.match for r in request.records]
                session.rollback()
                if matches.count(Match.confident) >= 1 and matches.count(Match.uncertain) >= 2:
                    return given
    finally:
        engine.dispose()
    raise AssertionError("no resident with both confident records and two uncertain candidates")


def test_an_ig_lead_answers_a_subject_access_request(page, county, live_server):
    given = _asking(county)
    received = date.today() - timedelta(days=3)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, RIGHTS_DESK, "/rights/access")
    page.goto(f"{live_server}/rights/access")
    assert axe_violations(page) == []
    page.get_by_label("Given name").fill(given["given_name"])
    page.get_by_role("button", name="Find their records").click()  # no surname
    assert "Give the person's surname" in page.locator(".govuk-error-summary").inner_text()
    assert axe_violations(page) == []

    page.get_by_label("Surname", exact=True).fill(given["surname"])
    page.get_by_label("Date of birth").fill(given["date_of_birth"])
    page.get_by_label("Postcode (optional)", exact=True).fill(given["postcode"])
    page.get_by_label("Date the request was received").fill(received.isoformat())
    page.get_by_role("button", name="Find their records").click()
    page.wait_for_url("**/rights/access/requests/SAR-*")
    assert page.locator("#due").inner_text().startswith(service.add_months(received, 1).isoformat())
    rows = page.locator("#records tbody tr")
    matches = [rows.nth(i).locator("td").nth(2).inner_text() for i in range(rows.count())]
    assert "confident" in matches and matches.count("uncertain") >= 2
    assert axe_violations(page) == []

    uncertain = page.locator("#records tbody tr", has_text="uncertain")
    first_id = uncertain.first.locator("td").nth(1).inner_text()
    uncertain.first.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/rights/access/requests/SAR-*")
    confirmed = page.locator("#records tbody tr", has_text="confirmed")
    assert confirmed.first.locator("td").nth(1).inner_text() == first_id
    page.locator("#records tbody tr", has_text="uncertain").first.get_by_role(
        "button", name="Exclude"
    ).click()
    page.wait_for_url("**/rights/access/requests/SAR-*")
    assert page.locator("#records tbody tr", has_text="excluded").count() == 1
    assert axe_violations(page) == []

    exported = matches.count("confident") + 1  # the confirmed candidate joins the export
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the export (ZIP)").click()
    archive = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))
    names = archive.namelist()
    assert "summary.html" in names and "sharing-history.csv" in names
    record_rows = sum(
        len(archive.read(n).decode().splitlines()) - 1 for n in names if n.startswith("records/")
    )
    assert record_rows == exported
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the summary (HTML)").click()
    summary = download.value.path().read_text()
    assert "What each organisation holds" in summary
    assert download.value.suggested_filename.endswith("-summary.html")
    assert page.problems == []
