"""The works service on the demo county: every promoter's programme read through decide ->
execute under the street works agreement, co-ordinated; the pages, the public roadworks map
and the API over it."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.app import create_app
from civicshare.demo import DEMO_PASSWORD
from civicshare.partners import service as partners
from civicshare.sharing.models import Receipt
from civicshare.works import pages, service
from tests.conftest import api_token, post_sign_in
from tests.works.test_publish import HEADER, a_county_work

ANALYST = "analyst@worcestershire-cc.example"
PLANNER = "works.planner@mercia-water.example"
WHOLE_YEAR = {"from": "2026-01-01", "to": "2027-12-31"}


def actor(sessions, email: str, partner_key: str | None = None):
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, email)
        membership = next(m for m in person.memberships if partner_key in (None, m.partner.key))
        return actor_for(membership, "cli")


def synthetic_works(county) -> dict[str, dict]:
    """Every works row the synthetic county wrote, by reference (read from its files)."""
    found = {}
    for path in (county.data_dir / "synthetic" / "datasets").glob("*works*.csv"):
        with path.open(newline="") as handle:
            found.update({row["work_reference_number"]: row for row in csv.DictReader(handle)})
    return found


def planted(county) -> list[dict]:
    path = county.data_dir / "synthetic" / "truth" / "works-planted.json"
    return json.loads(path.read_text())["cases"]


def test_every_promoters_works_are_read_through_the_gateway_and_coordinated(
    county, county_sessions
):
    analyst = actor(county_sessions, ANALYST)
    with db.session_scope(county_sessions) as session:
        before = session.scalar(select(func.count()).select_from(Receipt))
        read = service.programme(session, county, analyst, via="cli")
        after = session.scalar(select(func.count()).select_from(Receipt))
        receipts = session.scalars(select(Receipt).order_by(Receipt.id.desc()).limit(3)).all()
    assert not read.withheld and not read.unreadable
    assert {w.work_reference_number for w in read.works} == set(synthetic_works(county))
    # one decided, audited and receipted read per dataset, under the works purpose
    assert after - before == len(read.sources) == 13  # 12 promoters and the traffic counts
    assert {r.purpose for r in receipts} == {"works-coordination"}
    assert {s.kind for s in read.sources} == {"works", "traffic"}
    found = {c.pair: c for c in read.coordination.clashes}
    for case in planted(county):
        pair = tuple(sorted(case["references"]))
        if case["kind"].startswith("clash_") or case["kind"] == "diversion_onto_closed_path":
            assert pair in found, case
        if case["kind"] == "diversion_onto_closed_path":
            assert found[pair].kind == "diversion_onto_closure"
            assert found[pair].severity == "high"
        if case["kind"] == "section_58":
            assert (pair[1] if pair[0] == case["references"][0] else pair[0]) in {
                r.work_reference_number for r in read.coordination.restrictions
            } or case["references"][1] in {
                r.work_reference_number for r in read.coordination.restrictions
            }
        if case["kind"] == "collaboration":
            assert pair in {
                tuple(sorted((o.work_reference_number_a, o.work_reference_number_b)))
                for o in read.coordination.opportunities
            }


def test_a_partner_outside_every_works_agreement_reads_nothing(county, county_sessions):
    hospital = actor(county_sessions, "provider@worcs-acute.example")
    with db.session_scope(county_sessions) as session:
        read = service.programme(session, county, hospital, via="cli")
    assert read.sources == [] and read.works == ()


@pytest.fixture(scope="module")
def browser_client(county):
    with TestClient(create_app(county), raise_server_exceptions=False) as client:
        yield client


def signed_in(client, email):
    client.cookies.clear()
    response = post_sign_in(client, email, DEMO_PASSWORD)
    assert response.status_code == 303, response.text
    return client


def test_the_works_pages_list_map_and_explain_the_programme(county, browser_client):
    client = signed_in(browser_client, ANALYST)
    page = client.get("/works", params=WHOLE_YEAR)
    assert page.status_code == 200
    items = re.findall(r'data-map-item="([^"]+)"', page.text)
    assert set(items) == set(synthetic_works(county))
    config = json.loads(re.search(r'id="works-map-config">(.*?)</script>', page.text).group(1))
    assert {f["id"] for f in config["features"]["features"]} == set(items)
    lon, lat = config["features"]["features"][0]["geometry"]["coordinates"][0]
    assert -3.0 < lon < -1.5 and 51.8 < lat < 52.6  # WGS84 in Worcestershire

    clashes = client.get("/works/clashes")
    for case in planted(county):
        if case["kind"] == "clash_same_street":
            a, b = sorted(case["references"])
            assert f'id="{a}--{b}"' in clashes.text
    table = client.get("/works/clashes.csv")
    assert table.text.splitlines()[0] == (
        "work_reference_number_a,work_reference_number_b,kind,severity,overlap_start,"
        "overlap_end,distance_m"
    )
    assert len(table.text.splitlines()) == 1 + clashes.text.count(
        '<tr class="govuk-table__row" id='
    )

    usrn = next(c["usrn"] for c in planted(county) if c["kind"] == "clash_same_street")
    street = client.get(f"/works/streets/{usrn}")
    on_street = [r for r in synthetic_works(county).values() if r["usrn"] == str(usrn)]
    assert street.status_code == 200 and street.text.count("<rect") == len(on_street)

    client.cookies.clear()
    assert client.get("/works", follow_redirects=False).status_code in (302, 303, 401)


def test_the_public_roadworks_map_shows_works_near_a_postcode_without_sign_in(
    county, browser_client, monkeypatch
):
    import pyarrow.parquet as pq
    import shapely

    browser_client.cookies.clear()
    works = synthetic_works(county)
    reference, row = next((k, r) for k, r in sorted(works.items()) if r["usrn"])
    monkeypatch.setattr(pages, "today", lambda: date.fromisoformat(row["proposed_start_date"]))
    props = pq.read_table(
        county.data_dir / "reference" / "properties.parquet", columns=["usrn", "postcode"]
    ).to_pylist()
    postcode = next(p["postcode"] for p in props if str(p["usrn"]) == row["usrn"])
    service.forget_public_programme()
    page = browser_client.get("/roadworks", params={"postcode": postcode.lower().replace(" ", "")})
    assert page.status_code == 200
    listed = re.findall(r'data-map-item="([^"]+)"', page.text)
    assert reference in listed
    centre = pages.reference.postcode_centre(county, postcode)
    point = shapely.Point(*centre)
    for ref in listed:  # every work listed is within 1 km and not over
        work = works[ref]
        assert shapely.from_wkt(work["works_location_wkt"]).distance(point) <= 1000
        assert work["proposed_end_date"] >= row["proposed_start_date"]
    unknown = browser_client.get("/roadworks", params={"postcode": "ZZ99 9ZZ"})
    assert unknown.status_code == 400 and "is not a postcode in the county" in unknown.text


def test_the_api_needs_the_works_scopes(county, browser_client):
    browser_client.cookies.clear()
    reader = api_token(county, ANALYST, ["works:read"], name="works reader")
    other = api_token(county, ANALYST, ["share:read"], name="share only")
    answer = browser_client.get("/api/works", headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 200
    body = answer.json()
    assert {w["work_reference_number"] for w in body["works"]} == set(synthetic_works(county))
    assert body["clashes"] and body["withheld"] == []
    refused = browser_client.get("/api/works", headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 403


def test_the_command_line_reads_the_programme_through_the_gateway(county, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from civicshare.cli import app

    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(county.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", county.effective_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    token = api_token(county, ANALYST, ["works:read"], name="cli")
    result = CliRunner().invoke(
        app, ["works", "programme", "--out", str(tmp_path / "out"), "--token", token]
    )
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "out" / "clashes.csv").read_text().splitlines()
    assert len(rows) > 1 and rows[0].startswith("work_reference_number_a,")
    refused = CliRunner().invoke(
        app, ["works", "publish", str(tmp_path / "out" / "clashes.csv"), "--token", token]
    )
    assert refused.exit_code == 2 and "works:write" in refused.output


def test_publishing_over_the_api(county, browser_client):
    """Last in this module: it replaces Mercia Water's programme."""
    client = browser_client
    client.cookies.clear()
    token = api_token(county, PLANNER, ["works:write", "works:read"])
    target = a_county_work(county)
    body = io.StringIO()
    body.write(HEADER + "\n")
    body.write(
        f"MWAPI1,Mercia Water,{target['usrn']},,minor,Valve replacement,no_c_way_incursion,"
        f'2027-02-01,2027-02-03,"{target["works_location_wkt"]}",no,no\n'
    )
    answer = client.post(
        "/api/works?filename=programme.csv",
        content=body.getvalue().encode(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["accepted"] == 1 and answer.json()["dataset"] == "utility-works"
    read_only = api_token(county, PLANNER, ["works:read"], name="read only")
    refused = client.post(
        "/api/works", content=b"x", headers={"Authorization": f"Bearer {read_only}"}
    )
    assert refused.status_code == 403
