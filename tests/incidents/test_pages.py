"""Incident pages without a browser: form errors name the field, IG leads see the log but no
households, exports and print are recorded, configured base-map tiles widen only img-src."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from civicshare import db, demo
from civicshare.app import create_app
from civicshare.incidents.models import IncidentEvent
from tests.conftest import post_sign_in
from tests.incidents.test_incidents import FIRE, WATER_IG, agreement_ref

HTML = {"accept": "text/html"}


def signed_in(store, email):
    client = TestClient(create_app(store))
    response = post_sign_in(client, email, demo.DEMO_PASSWORD)
    assert response.status_code == 303
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def open_form(client, store, store_sessions, **fields):
    page = client.get("/incidents/new", headers=HTML)
    with db.session_scope(store_sessions) as session:
        reference = agreement_ref(session)
    data = {"csrf_token": csrf(page.text), "title": "Flats fire", "kind": "fire",
            "agreement": reference, **fields}  # fmt: skip
    return client.post("/incidents/new", data=data, headers=HTML, follow_redirects=False)


def test_the_form_names_the_field_at_fault(store, store_sessions):
    client = signed_in(store, FIRE)
    bad = open_form(client, store, store_sessions, latitude="52.2", longitude="-2.2", radius_m="0")
    assert bad.status_code == 400
    assert 'href="#radius_m"' in bad.text and "must be at least 1 m" in bad.text
    bad = open_form(client, store, store_sessions, latitude="52.2", longitude="",
                    radius_m="100")  # fmt: skip
    assert bad.status_code == 400 and 'href="#longitude"' in bad.text
    bad = open_form(
        client, store, store_sessions, geojson='{"type": "LineString", "coordinates": []}'
    )
    assert bad.status_code == 400 and 'href="#geojson"' in bad.text
    assert "LineString" in bad.text


def test_pages_exports_and_print_are_recorded_and_ig_leads_see_no_households(
    store, store_sessions, centre
):
    from civicshare.maps.projection import to_wgs84

    client = signed_in(store, FIRE)
    lon, lat = to_wgs84(*centre)
    opened = open_form(client, store, store_sessions, latitude=f"{lat:.6f}", longitude=f"{lon:.6f}",
                       radius_m="500")  # fmt: skip
    assert opened.status_code == 303
    path = opened.headers["location"]
    page = client.get(path, headers=HTML)
    count = int(re.search(r'id="household-count">(\d+)<', page.text).group(1))
    assert count > 0 and page.text.count('data-key="') == count
    csv_text = client.get(path + "/households.csv").text
    assert len(csv_text.strip().splitlines()) == count + 1
    assert "OFFICIAL-SENSITIVE" in client.get(path + "/print", headers=HTML).text
    reference = path.rsplit("/", 1)[1]
    with db.session_scope(store_sessions) as session:
        from civicshare.incidents.service import get_incident

        incident = get_incident(session, reference)
        actions = session.scalars(
            select(IncidentEvent.action).where(IncidentEvent.incident_id == incident.id)
        ).all()
    assert actions == ["opened", "viewed", "viewed", "exported", "viewed"]

    ig = signed_in(store, WATER_IG)
    page = ig.get(path, headers=HTML)
    assert page.status_code == 200 and "Households are shown to responders only" in page.text
    assert 'data-key="' not in page.text
    assert ig.get(path + "/households.csv").status_code == 403
    assert "Opened by" in ig.get(path + "/log", headers=HTML).text


def test_configured_tiles_widen_img_src_on_the_map_pages_only(store, monkeypatch):
    client = signed_in(store, FIRE)
    default = client.get("/incidents/new", headers=HTML).headers["content-security-policy"]
    assert "img-src 'self' data:;" in default
    tiles = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    monkeypatch.setattr(client.app.state, "settings", store.model_copy(update={"map_tiles": tiles}))
    page = client.get("/incidents/new", headers=HTML)
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://*.tiles.example.org;" in policy
    assert "script-src 'self' 'nonce-" in policy
    assert "tiles.example.org" in page.text  # handed to the map script
    other = client.get("/incidents", headers=HTML).headers["content-security-policy"]
    assert "tiles.example.org" not in other


def test_the_form_refuses_central_london_until_confirmed(store, store_sessions):
    client = signed_in(store, FIRE)
    fields = {"easting": "530000", "northing": "180000", "radius_m": "500"}
    bad = open_form(client, store, store_sessions, **fields)
    assert bad.status_code == 422
    assert 'href="#confirm_outside_area"' in bad.text
    assert "outside the partnership" in bad.text and 'name="confirm_outside_area"' in bad.text
    opened = open_form(client, store, store_sessions, confirm_outside_area="yes", **fields)
    assert opened.status_code == 303, opened.text


EVIL = '=HYPERLINK("http://evil.example","Flat 1")'


def test_households_csv_shows_formula_cells_as_text(store, store_sessions, centre, monkeypatch):
    """An address a partner sent as a formula reaches the responder's CSV (web download and
    API) prefixed with ', never as a formula; numbers such as the distance stay numbers."""
    from civicshare.incidents import service
    from civicshare.maps.projection import to_wgs84

    real = service.households

    def with_a_formula(*args, **kwargs):
        result = real(*args, **kwargs)
        first = {**result.households[0], "address": EVIL, "postcode": "@WR1 1AA"}
        return dataclasses.replace(result, households=[first, *result.households[1:]])

    monkeypatch.setattr(service, "households", with_a_formula)
    client = signed_in(store, FIRE)
    lon, lat = to_wgs84(*centre)
    opened = open_form(client, store, store_sessions, latitude=f"{lat:.6f}", longitude=f"{lon:.6f}",
                       radius_m="500")  # fmt: skip
    path = opened.headers["location"]
    reference = path.rsplit("/", 1)[1]
    for url in (path + "/households.csv", f"/api/incidents/{reference}/households?format=csv"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:300])
        assert '"\'=HYPERLINK(""http://evil.example"",""Flat 1"")"' in response.text, url
        rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
        assert (rows[0]["address"], rows[0]["postcode"]) == ("'" + EVIL, "'@WR1 1AA")
        assert float(rows[0]["distance_m"]) >= 0
        assert float(rows[0]["lon"]) < 0 and rows[0]["lon"].startswith("-")  # a number: as it is
        for row in rows:
            assert not [v for v in row.values() if v[:1] in ("=", "+", "@", "\t", "\r")]
