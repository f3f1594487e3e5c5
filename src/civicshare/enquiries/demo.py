"""The demo's councillors' casework: the partnership's topics and routing table (the CSV files
an admin would load), service levels, a dual-hatted councillor, one councillor per district and
a caseworker at each partner that answers enquiries. Fictional people; idempotent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from civicshare.accounts import service as accounts
from civicshare.enquiries import service
from civicshare.partners import service as partners

DEMO_CONTENT = Path(__file__).resolve().parents[1] / "demo_content"
TOPICS_CSV = DEMO_CONTENT / "enquiry-topics.csv"
ROUTES_CSV = DEMO_CONTENT / "enquiry-routes.csv"

# Sits on the county council and on Bromsgrove District Council: one person, two hats.
DUAL_HATTED = ("councillor@worcestershire-cc.example", "Cllr Margaret Oduya",
               ["worcestershire-cc", "bromsgrove-dc"])  # fmt: skip
DISTRICT_COUNCILLORS = {
    "bromsgrove-dc": "Cllr Peter Lang",
    "malvern-hills-dc": "Cllr Anwen Hughes",
    "redditch-bc": "Cllr Samir Patel",
    "worcester-city": "Cllr Rosa Delgado",
    "wychavon-dc": "Cllr Geoffrey Bright",
    "wyre-forest-dc": "Cllr Hannah Wood",
}
CASEWORKERS = {
    "worcestershire-cc": "Leah Norris",
    "bromsgrove-dc": "Amir Haddad",
    "malvern-hills-dc": "Kate Morgan",
    "redditch-bc": "Josh Turner",
    "worcester-city": "Ifeoma Eze",
    "wychavon-dc": "Daniel Price",
    "wyre-forest-dc": "Sophie Grant",
    "worcs-children-first": "Ben Ashworth",
}
SERVICE_LEVELS = {key: 10 for key in CASEWORKERS} | {"worcs-children-first": 5}


def _person(session: Session, email: str, name: str, password: str | None):
    person = partners.get_person_by_email(session, email)
    if person is None:
        person = partners.create_person(session, email=email, display_name=name)
        if password is not None:
            accounts.set_password(session, person, password)
    return person


def _member(session: Session, person, key: str, roles: list[str], title: str) -> None:
    partner = partners.get_by_key(session, key)
    if partner is None or any(m.partner_id == partner.id for m in person.memberships):
        return
    partners.add_membership(session, person, partner, roles, job_title=title)


def seed_enquiries(session: Session, password: str | None) -> None:
    """Topics, routes, service levels and the demo's councillors and caseworkers (who sign in
    with `password`; None: no password is set, they cannot sign in)."""
    service.load_topics(session, service.read_csv(TOPICS_CSV.read_text(), ("key", "name")))
    service.load_routes(
        session, service.read_csv(ROUTES_CSV.read_text(), ("topic", "district", "partner", "team"))
    )
    present = {p.key for p in partners.list_partners(session)}
    service.set_service_levels(
        session, {key: days for key, days in SERVICE_LEVELS.items() if key in present}
    )
    email, name, councils = DUAL_HATTED
    person = _person(session, email, name, password)
    for key in councils:
        _member(session, person, key, ["elected_member"], "Councillor")
    for key, name in DISTRICT_COUNCILLORS.items():
        person = _person(session, f"councillor@{key}.example", name, password)
        _member(session, person, key, ["elected_member"], "Councillor")
    for key, name in CASEWORKERS.items():
        person = _person(session, f"casework@{key}.example", name, password)
        _member(session, person, key, ["caseworker"], "Members' enquiries caseworker")
