"""Some real activity in the demo partnership, so the benefits page has something to show: two
incidents whose households lists the fire service draws, the county's works co-ordinator
telling promoters of clashes, and each district's council tax review with outcomes recorded. Each
runs through its service (decided, audited), exactly as a person would do it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import actor_for
from civicshare.audit.models import AuditRecord
from civicshare.config import Settings
from civicshare.partners import service as partners

FIRE = "crew.manager@hw-fire.example"
WORKS = "streetworks@worcestershire-cc.example"
# (title, kind, radius in metres, times the list is looked at during the incident)
INCIDENTS = (("House fire, demo", "fire", 400, 5), ("Flooding, demo", "flood", 800, 4))


def _actor(session: Session, email: str):
    person = partners.get_person_by_email(session, email)
    return actor_for(person.memberships[0], "cli") if person else None


def seed_benefits_activity(session: Session, settings: Settings) -> bool:
    """Idempotent: does nothing once an incident list has been drawn. Returns True if it ran."""
    drawn = session.scalar(
        select(func.count())
        .select_from(AuditRecord)
        .where(AuditRecord.action == "incident_households_viewed")
    )
    if drawn:
        return False
    _incidents(session, settings)
    _works(session, settings)
    _council_tax(session, settings)
    return True


def _incidents(session: Session, settings: Settings) -> None:
    from civicshare.incidents import service as incidents
    from civicshare.incidents.demo import agreement_reference
    from civicshare.incidents.geometry import Area

    fire, reference = _actor(session, FIRE), agreement_reference(session)
    if fire is None or reference is None:
        return
    index = incidents.gazetteer(settings).index
    for number, (title, kind, radius, looks) in enumerate(INCIDENTS):
        # Somewhere inside the county: a property's place, spread apart by the incident's number.
        spot = (number + 1) * len(index) // (len(INCIDENTS) + 1)
        area = Area.circle(float(index.x[spot]), float(index.y[spot]), radius)
        incident = incidents.open_incident(
            session, fire, title=title, kind=kind, area=area,
            agreement=reference, settings=settings, confirm_outside_area=True,
        )  # fmt: skip
        for _ in range(looks):
            incidents.households(session, settings, fire, incident, via="web")
        incidents.close_incident(session, fire, incident, "Stood down, the demo is over")


def _works(session: Session, settings: Settings) -> None:
    from civicshare.works import service as works

    coordinator = _actor(session, WORKS)
    if coordinator is not None:
        works.notify_new_clashes(session, settings, coordinator, via="cli")


def _council_tax(session: Session, settings: Settings) -> None:
    """Each district's review, run by one of its council's reviewers; two in three of the
    cases found are confirmed (the other adult was living there) and the rest still due."""
    from civicshare.counciltax import service as counciltax

    decided = 0
    for district, council in counciltax.DISTRICTS.items():
        partner = partners.get_by_key(session, council)
        reviewers = [
            member
            for role in counciltax.REVIEWER_ROLES
            for member in (partners.members_with_role(session, partner.id, role) if partner else [])
        ]
        if not reviewers:
            continue
        reviewer = actor_for(reviewers[0], "cli")
        run = counciltax.review(session, settings, reviewer, district)
        for case in run.cases:
            decided += 1
            confirmed = decided % 3 != 0
            counciltax.record_outcome(
                session, reviewer, case.id,
                "discount_removed" if confirmed else "discount_still_due",
                "Demo: the other adult confirmed" if confirmed else "Demo: a carer, exempt",
            )  # fmt: skip
