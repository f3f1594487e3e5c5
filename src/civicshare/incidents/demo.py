"""The demo partnership's incident response: the address gazetteer, an active emergency
agreement from the `incident-vulnerable-households` template, and responders at the fire
service, the police and the county's emergency planning team."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts import service as accounts
from civicshare.accounts.service import actor_for
from civicshare.agreements.models import AgreementVersion
from civicshare.config import Settings
from civicshare.maps.reference import install_reference
from civicshare.partners import service as partners
from civicshare.partners.models import Membership

TEMPLATE = "incident-vulnerable-households"
TITLE = "Vulnerable households at an incident"
# (e-mail, name, job title, partner key, roles); the fire service's watch manager is in
# civicshare.demo already and acts under this agreement too.
RESPONDERS = [
    (
        "duty.inspector@west-mercia-police.example",
        "Sam Okoye",
        "Duty inspector",
        "west-mercia-police",
        ["responder"],
    ),
    (
        "emergency.planning@worcestershire-cc.example",
        "Rachel Moore",
        "Emergency planning officer",
        "worcestershire-cc",
        ["responder"],
    ),
]


def seed_incident_response(
    session: Session,
    settings: Settings,
    county_dir: Path,
    ig_leads: Mapping[str, Membership],
    password: str,
    today: date | None = None,
) -> bool:
    """Idempotent. Returns True when the agreement was created by this call."""
    install_reference(settings, Path(county_dir) / "geography")
    by_key = {p.key: p for p in partners.list_partners(session)}
    for email, name, title, key, roles in RESPONDERS:
        if key not in by_key or partners.get_person_by_email(session, email) is not None:
            continue
        person = partners.create_person(session, email=email, display_name=name)
        accounts.set_password(session, person, password)
        partners.add_membership(session, person, by_key[key], roles, job_title=title)
    exists = session.scalars(
        select(AgreementVersion).where(AgreementVersion.title == TITLE)
    ).first()
    needed = (
        "worcestershire-cc",
        "hw-health-care",
        "hw-icb",
        "mercia-water",
        "hw-fire",
        "west-mercia-police",
    )
    if exists is not None or not all(key in ig_leads for key in needed):
        return False
    from civicshare.agreements.demo import draft_demo_agreement, take_through_lifecycle

    today = today or date.today()
    start = today - timedelta(days=2)
    actors = {key: actor_for(m, "cli") for key, m in ig_leads.items()}
    version = draft_demo_agreement(
        session,
        actors["hw-fire"],
        TEMPLATE,
        TITLE,
        start,
        review_days=60,
        end_date=start + timedelta(days=88),
    )
    take_through_lifecycle(session, actors, version, "active", start)
    return True


def agreement_reference(session: Session) -> str | None:
    """The demo's incident agreement (ISA-…), or None before it is seeded."""
    version = session.scalars(
        select(AgreementVersion).where(AgreementVersion.title == TITLE)
    ).first()
    return version.agreement.reference if version else None
