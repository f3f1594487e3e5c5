"""`civicshare events` end to end at the command line: publish (a bad file refused whole with
exit 2), set a webhook, deliver to a real local receiver, list the outbox, replay, pull as the
recipient and rotate a key."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from civicshare import db
from civicshare.cli import app as cli_app
from civicshare.events.receiver import ReceiverServer
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from civicshare.synthetic import registrations
from tests.conftest import api_token
from tests.events.conftest import REGISTRAR

runner = CliRunner()
GP_CLERK = "gp.clerk@hw-icb.example"


@pytest.fixture
def at_the_gateway(county, monkeypatch):
    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(county.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", county.effective_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return county


def events(*args: str):
    return runner.invoke(cli_app, ["events", *args])


def test_the_events_commands(at_the_gateway, county_sessions, tmp_path):
    county = at_the_gateway
    with db.session_scope(county_sessions) as session:
        person = partners.create_person(session, email=GP_CLERK, display_name="Gus Clerk")
        partners.add_membership(
            session, person, partners.get_by_key(session, "hw-icb"), [Role.analyst]
        )
    writer = api_token(county, REGISTRAR, ["events:write"])
    reader = api_token(county, GP_CLERK, ["events:read"])
    where = county.data_dir / "synthetic"
    people = registrations.living_residents(where, 2, seed=77)
    body, entries = registrations.death_registrations(where, people, first_entry=960_001)
    good, bad = tmp_path / "deaths.csv", tmp_path / "bad.csv"
    good.write_bytes(body)
    lines = body.decode().splitlines()
    bad.write_text(lines[0] + "\n" + lines[1].replace("1 April 2026", "1 Apirl 2026") + "\n")

    refused = events("publish", str(bad), "--token", writer)
    assert refused.exit_code == 2
    assert "row 1, date_of_death: is not a date in the format %d %B %Y" in refused.output
    published = events("publish", str(good), "--token", writer)
    assert published.exit_code == 0, published.output
    assert "Published 2 new registration(s) in death-registrations" in published.output
    assert "Matched 2" in published.output

    with ReceiverServer({}) as receiver:
        made = events("endpoint", "hw-icb", receiver.url)
        assert made.exit_code == 0, made.output
        key_id, secret = made.output.split("Signing key ")[1].split("  (shown once)")[0].split(": ")
        receiver.receiver.keys[key_id] = secret
        delivered = events("deliver")
        assert delivered.exit_code == 0 and " delivered," in delivered.output
        assert {p["event"]["reference"] for p in receiver.applied} == set(entries)
        listed = events("deliveries", "--status", "delivered")
        assert listed.exit_code == 0 and "hw-icb" in listed.output
        first_id = listed.output.split("│")[1].strip() if "│" in listed.output else None
        assert first_id and first_id.isdigit()
        replayed = events("replay", first_id)
        assert replayed.exit_code == 0 and "delivered" in replayed.output
        assert receiver.refused == ["replay"]

    pulled = events("pull", "--token", reader)
    assert pulled.exit_code == 0, pulled.output
    payloads = [json.loads(line) for line in pulled.output.splitlines() if line.startswith("{")]
    assert {p["event"]["reference"] for p in payloads} >= set(entries)
    assert all(p["recipient"] == "hw-icb" for p in payloads)
    assert events("pull", "--token", writer).exit_code == 2  # no events:read scope

    rotated = events("rotate-key", "worcestershire-cc", "--inbound")
    assert rotated.exit_code == 0 and "New inbound key k_" in rotated.output
    assert events("replay", "999999").exit_code == 2


def test_publish_births_and_changes_of_address(at_the_gateway, tmp_path):
    county = at_the_gateway
    writer = api_token(county, REGISTRAR, ["events:write"])
    where = county.data_dir / "synthetic"
    births, _ = registrations.birth_registrations(
        where, registrations.living_mothers(where, 2, seed=61), first_entry=760_001
    )
    moves, _, _ = registrations.address_changes(
        where, registrations.living_residents(where, 2, seed=63, min_age=20), first_entry=660_001
    )
    (tmp_path / "births.csv").write_bytes(births)
    (tmp_path / "moves.csv").write_bytes(moves)
    # Births published as deaths (the default type) are refused by their columns: exit 2.
    refused = events("publish", str(tmp_path / "births.csv"), "--token", writer)
    assert refused.exit_code == 2 and "is not a column" not in refused.output
    assert "deceased_surname" in refused.output
    unknown = events(
        "publish", str(tmp_path / "births.csv"), "--type", "marriage", "--token", writer
    )
    assert unknown.exit_code == 2 and "marriage" in unknown.output
    born = events("publish", str(tmp_path / "births.csv"), "--type", "birth", "--token", writer)
    assert born.exit_code == 0, born.output
    assert "Published 2 new registration(s) in birth-registrations" in born.output
    moved = events(
        "publish", str(tmp_path / "moves.csv"), "--type", "change-of-address", "--token", writer
    )
    assert moved.exit_code == 0, moved.output
    assert "Published 2 new registration(s) in address-changes" in moved.output
