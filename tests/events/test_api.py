"""Life events over HTTP and in the browser's pages: tokens and scopes, the signed registration
API (a bad signature, a stale time and a replay refused), a recipient's inbox with its outcome
and CSV, and the outbox for the gateway's admins only."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.app import create_app
from civicshare.events import keys as event_keys
from civicshare.events.models import KeyKind
from civicshare.events.receiver import sign
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from civicshare.synthetic import registrations
from tests.conftest import TEST_PASSWORD, api_token, sign_in
from tests.events.conftest import ADMIN, REGISTRAR

GP_LEAD = "gp.lead@hw-icb.example"


@pytest.fixture(scope="module")
def app_client(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        person = partners.create_person(session, email=GP_LEAD, display_name="Gail Parr")
        accounts.set_password(session, person, TEST_PASSWORD)
        partners.add_membership(
            session, person, partners.get_by_key(session, "hw-icb"), [Role.analyst]
        )
        admin = partners.get_person_by_email(session, ADMIN)
        accounts.set_password(session, admin, TEST_PASSWORD)
    with TestClient(create_app(county), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def people(county):
    where = county.data_dir / "synthetic"
    return registrations.living_residents(where, 6, seed=21)


def rows_json(county, people, first: int) -> dict:
    body, _ = registrations.death_registrations(
        county.data_dir / "synthetic", people, first_entry=first
    )
    lines = body.decode().splitlines()
    header = lines[0].split(",")
    import csv

    rows = list(csv.reader(lines[1:]))
    return {"registrations": [dict(zip(header, row, strict=True)) for row in rows]}


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_publishing_needs_the_events_write_scope(county, app_client, people):
    body = rows_json(county, people[:2], 930_001)
    assert app_client.post("/api/events", json=body).status_code == 401
    reader = api_token(county, REGISTRAR, ["events:read"])
    refused = app_client.post("/api/events", json=body, headers=bearer(reader))
    assert refused.status_code == 403
    writer = api_token(county, REGISTRAR, ["events:write"])
    made = app_client.post("/api/events", json=body, headers=bearer(writer))
    assert made.status_code == 201, made.text
    assert {e["reference"] for e in made.json()["events"]} == {"D930001", "D930002"}
    # A bad row: 422 naming row and field; nothing stored (the next publish still sees 0 new).
    bad = {"registrations": [{**body["registrations"][0], "entry_number": "D930009",
                              "date_of_death": "yesterday"}]}  # fmt: skip
    refused = app_client.post("/api/events", json=bad, headers=bearer(writer))
    assert refused.status_code == 422
    assert "row 1, date_of_death: is not a date" in refused.json()["problems"][0]
    again = app_client.post("/api/events", json=body, headers=bearer(writer))
    assert again.json()["events"] == [] and again.json()["unchanged"] == 2


def test_the_signed_registration_api(county, county_sessions, app_client, people):
    with db.session_scope(county_sessions) as session:
        key_id, secret = event_keys.rotate(
            session, county, None, "worcestershire-cc", KeyKind.inbound
        )
    body = json.dumps(rows_json(county, people[2:4], 940_001)).encode()
    request_id = str(uuid.uuid4())
    headers = sign(body, request_id, [(key_id, secret)])
    made = app_client.post("/api/events/registrations", content=body, headers=headers)
    assert made.status_code == 201, made.text
    assert {e["reference"] for e in made.json()["events"]} == {"D940001", "D940002"}
    replayed = app_client.post("/api/events/registrations", content=body, headers=headers)
    assert replayed.status_code == 409
    forged = sign(body, str(uuid.uuid4()), [(key_id, "not-the-secret")])
    assert (
        app_client.post("/api/events/registrations", content=body, headers=forged).status_code
        == 401
    )
    stale = sign(body, str(uuid.uuid4()), [(key_id, secret)], timestamp=int(time.time()) - 3600)
    assert (
        app_client.post("/api/events/registrations", content=body, headers=stale).status_code == 401
    )
    unsigned = app_client.post("/api/events/registrations", content=body)
    assert unsigned.status_code == 401


def test_a_recipient_pulls_records_outcomes_and_exports(county, app_client, people):
    token = api_token(county, GP_LEAD, ["events:read"])
    pulled = app_client.get("/api/events/notifications", headers=bearer(token))
    assert pulled.status_code == 200
    told = pulled.json()["notifications"]
    assert told, "the ICB holds GP records of these residents"
    first = told[0]
    assert set(first["action"].split("; ")) <= {
        "Deduct from the GP list",
        "Remove from the over-65 register",
    }
    assert {r["dataset"] for r in first["records"]} <= {"gp-registrations", "over-65-register"}
    assert [n["sequence"] for n in told] == sorted(n["sequence"] for n in told)
    after = app_client.get(
        "/api/events/notifications", params={"after": told[-1]["sequence"]}, headers=bearer(token)
    )
    assert after.json()["notifications"] == []
    recorded = app_client.post(
        f"/api/events/notifications/{first['id']}/outcome",
        json={"outcome": "done", "note": "Deducted from the list"},
        headers=bearer(token),
    )
    assert recorded.status_code == 200 and recorded.json()["outcome"] == "done"
    with_nhs = app_client.post(
        f"/api/events/notifications/{first['id']}/outcome",
        json={"outcome": "done", "note": "NHS 943 476 5919"},
        headers=bearer(token),
    )
    assert with_nhs.status_code == 422
    exported = app_client.get("/api/events/notifications.csv", headers=bearer(token))
    lines = exported.text.splitlines()
    assert lines[0].startswith("sequence,delivery_id,event_reference")
    assert any(first["delivery_id"] in line and ",done," in line for line in lines[1:])
    acked = app_client.post(
        "/api/events/notifications/ack", json={"upto": told[-1]["sequence"]}, headers=bearer(token)
    )
    assert acked.json()["acknowledged"] == len(told)
    pending = app_client.get(
        "/api/events/notifications", params={"pending": True}, headers=bearer(token)
    )
    assert pending.json()["notifications"] == []
    # Another partner's notification is not this recipient's to record.
    admin_token = api_token(county, ADMIN, ["events:read"])
    other = app_client.post(
        f"/api/events/notifications/{first['id']}/outcome",
        json={"outcome": "done"},
        headers=bearer(admin_token),
    )
    assert other.status_code == 404


def test_the_outbox_is_for_the_gateway_admins(county, app_client):
    gp = api_token(county, GP_LEAD, ["events:read", "events:write"])
    assert app_client.get("/api/events/deliveries", headers=bearer(gp)).status_code == 403
    admin = api_token(county, ADMIN, ["events:read"])
    listed = app_client.get("/api/events/deliveries", headers=bearer(admin))
    assert listed.status_code == 200 and listed.json()
    assert {row["status"] for row in listed.json()} <= {"pending", "pulled", "delivered", "dead"}


def test_the_pages(county, app_client, people):
    writer = api_token(county, REGISTRAR, ["events:write"])
    body = rows_json(county, people[4:6], 950_001)
    assert app_client.post("/api/events", json=body, headers=bearer(writer)).status_code == 201
    sign_in(app_client, GP_LEAD)
    inbox = app_client.get("/events/inbox")
    assert inbox.status_code == 200 and "Deduct from the GP list" in inbox.text
    assert app_client.get("/events/inbox.csv").status_code == 200
    assert app_client.get("/events/deliveries").status_code == 403
    with TestClient(create_app(county), raise_server_exceptions=False) as admin_client:
        sign_in(admin_client, ADMIN)
        events = admin_client.get("/events")
        assert events.status_code == 200, events.text
        assert "D950001" in events.text, events.text[events.text.find("<main") :][:3000]
        assert "Publish registrations" in events.text
        # The type of event is chosen in a select: each type the county publishes.
        for value in ("death", "birth", "change-of-address"):
            assert f'<option value="{value}"' in events.text
        assert admin_client.get("/events/deliveries").status_code == 200


def csv_rows(body: bytes) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(body.decode())))


def test_births_and_moves_over_the_api(county, county_sessions, app_client):
    where = county.data_dir / "synthetic"
    writer = api_token(county, REGISTRAR, ["events:write"])
    mothers = registrations.living_mothers(where, 2, seed=41)
    births, _ = registrations.birth_registrations(where, mothers, first_entry=740_001)
    made = app_client.post(
        "/api/events", params={"type": "birth"}, json={"registrations": csv_rows(births)},
        headers=bearer(writer),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["dataset"] == "birth-registrations"
    assert {(e["reference"], e["type"]) for e in made.json()["events"]} == {
        ("B740001", "birth"), ("B740002", "birth"),
    }  # fmt: skip
    # A birth sent as a death: its columns are not the death registrations' (422, by row).
    wrong = app_client.post(
        "/api/events", json={"registrations": csv_rows(births)}, headers=bearer(writer)
    )
    assert wrong.status_code == 422
    assert wrong.json()["problems"][0].startswith("row 1, child_date_of_birth: is not a column")
    unknown = app_client.post(
        "/api/events", params={"type": "marriage"}, content=births, headers=bearer(writer)
    )
    assert unknown.status_code == 422 and "type" in unknown.text
    movers = registrations.living_residents(where, 2, seed=43, min_age=20)
    moves, _, _ = registrations.address_changes(where, movers, first_entry=640_001)
    made = app_client.post(
        "/api/events?type=change-of-address", content=moves,
        headers={**bearer(writer), "Content-Type": "text/csv"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["dataset"] == "address-changes"
    assert {e["type"] for e in made.json()["events"]} == {"change_of_address"}
    # The signed registration API takes the same type.
    with db.session_scope(county_sessions) as session:
        key_id, secret = event_keys.rotate(
            session, county, None, "worcestershire-cc", KeyKind.inbound
        )
    more, _ = registrations.birth_registrations(
        where, registrations.living_mothers(where, 1, seed=45), first_entry=750_001
    )
    body = json.dumps({"registrations": csv_rows(more)}).encode()
    headers = sign(body, str(uuid.uuid4()), [(key_id, secret)])
    signed = app_client.post("/api/events/registrations?type=birth", content=body, headers=headers)
    assert signed.status_code == 201, signed.text
    assert [e["reference"] for e in signed.json()["events"]] == ["B750001"]
    # Documented in the OpenAPI description of both routes.
    schema = app_client.get("/openapi.json").json()["paths"]
    for path in ("/api/events", "/api/events/registrations"):
        names = [p["name"] for p in schema[path]["post"]["parameters"]]
        assert "type" in names, path
