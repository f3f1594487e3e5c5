"""A small partnership for the enquiries tests, on SQLite and PostgreSQL: the demo's partners,
topics, routing table, councillors and caseworkers, and reference data of two districts
(Bromsgrove and Redditch) with a few properties, written here rather than generated."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.enquiries.demo import seed_enquiries
from civicshare.maps.reference import DISTRICTS, PROPERTIES, REFERENCE_DIR
from civicshare.partners import service as partners
from civicshare.synthetic.partnership import PARTNERS
from tests.conftest import TEST_PASSWORD

DUAL = "councillor@worcestershire-cc.example"
BROMSGROVE_CLLR = "councillor@bromsgrove-dc.example"
REDDITCH_CLLR = "councillor@redditch-bc.example"
COUNTY_CASEWORK = "casework@worcestershire-cc.example"
BROMSGROVE_CASEWORK = "casework@bromsgrove-dc.example"
CHILDREN_CASEWORK = "casework@worcs-children-first.example"
SIGNING_IN = (DUAL, BROMSGROVE_CLLR, BROMSGROVE_CASEWORK, COUNTY_CASEWORK)
# One street in Bromsgrove (two houses on it) and one in Redditch.
STREET = "B61 8DA"
REDDITCH = "B98 7AA"
STREET_POINT = (395000.0, 270500.0)


def install_reference(settings) -> None:
    folder = settings.data_dir / REFERENCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    square = "POLYGON(({0} 265000, {1} 265000, {1} 280000, {0} 280000, {0} 265000))"
    pq.write_table(
        pa.table(
            {
                "district": ["bromsgrove", "redditch"],
                "name": ["Bromsgrove", "Redditch"],
                "wkt": [square.format(390000, 400000), square.format(400000, 410000)],
            }
        ),
        folder / DISTRICTS,
    )
    pq.write_table(
        pa.table(
            {
                "uprn": [100120000001, 100120000002, 100120000003],
                "address_line_1": ["1 Mill Lane", "3 Mill Lane", "8 Red Row"],
                "postcode": [STREET, STREET, REDDITCH],
                "easting": [STREET_POINT[0] - 10, STREET_POINT[0] + 10, 405000.0],
                "northing": [STREET_POINT[1], STREET_POINT[1], 270000.0],
            }
        ),
        folder / PROPERTIES,
    )


@pytest.fixture
def casework(settings, sessions):
    """The partnership ready for members' enquiries; its settings."""
    install_reference(settings)
    with db.session_scope(sessions) as session:
        partners.upsert(session, [{**p, "status": "endorsed"} for p in PARTNERS])
        seed_enquiries(session, None)  # hashing 17 passwords would take seconds a test
        for email in SIGNING_IN:
            accounts.set_password(session, partners.get_person_by_email(session, email),
                                  TEST_PASSWORD)  # fmt: skip
    return settings


def actor(session, email: str, partner_key: str):
    """The person acting as their membership of `partner_key` (as the web or a token would)."""
    person = partners.get_person_by_email(session, email)
    membership = next(m for m in person.memberships if m.partner.key == partner_key)
    return accounts.actor_for(membership, "session")


def token(sessions, email: str, partner_key: str, scopes=("enquiries:read", "enquiries:write")):
    """An API token for the person's membership of `partner_key`."""
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, email)
        membership = next(m for m in person.memberships if m.partner.key == partner_key)
        secret, _ = accounts.create_api_token(
            session, membership, name="test", scopes=list(scopes), days=1
        )
    return {"Authorization": f"Bearer {secret}"}
