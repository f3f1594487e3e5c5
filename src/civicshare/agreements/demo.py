"""Realistic agreements for the demo partnership, in every state of the lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor, actor_for
from civicshare.agreements import library, service
from civicshare.agreements.models import Agreement, AgreementVersion
from civicshare.partners.models import Membership

STEPS = ("submitted", "approved", "endorsed", "active")
# The IG group's endorsements are recorded by its chair, the City Council's IG lead: the City
# Council is party to none of the demo's agreements, so its IG lead neither drafted nor approved
# them (four-eyes separation of duties). Without it, by another IG lead who took no part.
IG_GROUP_CHAIR = "worcester-city"


def ig_group_member(actors: Mapping[str, Actor], version: AgreementVersion) -> Actor:
    """Who records the IG group's endorsement: the chair, else the first IG lead of a partner
    outside the agreement, else any IG lead separation of duties allows."""
    ordered = sorted(actors.items(), key=lambda kv: (kv[0] != IG_GROUP_CHAIR, kv[0]))
    allowed = [
        actor
        for _, actor in ordered
        if service.duty_refusal(actor, version, "endorse", service.FOUR_EYES) is None
    ]
    outside = [actor for actor in allowed if version.party(actor.partner_id) is None]
    if not (outside or allowed):
        raise ValueError(f"No IG lead may endorse {version.reference} under four-eyes.")
    return (outside or allowed)[0]


def take_through_lifecycle(
    session: Session,
    actors: Mapping[str, Actor],
    version: AgreementVersion,
    upto: str,
    on: date,
    *,
    approving: list[str] | None = None,
) -> None:
    """Take a complete draft through the lifecycle as far as `upto`, dated `on`."""
    drafter = actors[version.agreement.drafted_by.key]
    service.submit(session, drafter, version, today=on)
    parties = approving or [p.partner.key for p in version.parties]
    for key in parties:
        service.approve(session, actors[key], version, comment="Checked with our DPO")
    if upto == "submitted":
        return
    service.endorse(
        session,
        ig_group_member(actors, version),
        version,
        meeting_date=on,
        minute_reference=f"IGG/{on:%Y}/{on:%m}/{version.agreement.id}",
        today=on,
    )
    if upto == "endorsed":
        return
    service.activate(session, drafter, version, reason="Endorsed; start date reached", today=on)


def draft_demo_agreement(session, actor, template, title, start, *, review_days=365, **changes):
    """A complete draft from `template` by `actor`, starting `start`, with the DPIA done a
    fortnight before; `changes` are further draft fields. Returns the draft version."""
    version = service.create_draft(
        session, actor, title=title, template_key=template, reason="Demo partnership"
    )
    service.update_draft(
        session,
        actor,
        version,
        {
            "start_date": start,
            "review_date": start + timedelta(days=review_days),
            "dpia_outcome": "DPIA completed with the DPOs of every party; residual risk low "
            "after the mitigations in section 6.",
            "dpia_completed_on": start - timedelta(days=14),
            **changes,
        },
        reason="Dates and DPIA outcome",
    )
    return version


def seed_demo_agreements(
    session: Session,
    memberships_by_partner_key: Mapping[str, Membership],
    today: date | None = None,
) -> int:
    """Agreements in several states between the demo partners, drafted and approved by each
    party's IG lead membership and endorsed for the IG group by an IG lead who took no other
    part (IG_GROUP_CHAIR). Does nothing when any agreement exists. Returns the
    number of agreements created."""
    if session.scalar(select(func.count(Agreement.id))):
        return 0
    today = today or date.today()
    actors = {key: actor_for(m, "cli") for key, m in memberships_by_partner_key.items()}

    def have(*keys: str) -> bool:
        return all(key in actors for key in keys)

    created = 0
    if have("worcs-acute", "worcestershire-cc"):
        start = today - timedelta(days=200)
        discharge = draft_demo_agreement(
            session, actors["worcs-acute"], "hospital-discharge",
            "Hospital discharge to adult social care", start,
        )  # fmt: skip
        take_through_lifecycle(session, actors, discharge, "active", start)
        # An amendment in preparation: version 1 stays in force meanwhile.
        amendment = service.amend(
            session,
            actors["worcestershire-cc"],
            discharge.agreement,
            reason="Add the 30-day readmission flag for reablement planning",
        )
        service.add_data_item(
            session,
            actors["worcestershire-cc"],
            amendment,
            {"provider": "worcs-acute", "dataset": "acute-admissions", "column": "READMIT_30D",
             "treatment": "identifiable", "special_category": "health"},
        )  # fmt: skip
        service.update_draft(
            session,
            actors["worcestershire-cc"],
            amendment,
            {"purposes": [*amendment.purposes, {
                "code": "reablement-planning",
                "description": "Plan reablement for an adult readmitted within 30 days of "
                "discharge.",
            }]},
            reason="A purpose for the readmission flag",
        )  # fmt: skip
        created += 1
    if have("worcestershire-cc", "hw-health-care", "mercia-water", "hw-fire", "west-mercia-police"):
        start = today - timedelta(days=12)
        emergency = draft_demo_agreement(
            session, actors["worcestershire-cc"], "emergency-vulnerable-people",
            "Vulnerable people at risk: River Severn flooding, November 2026", start,
            review_days=60, end_date=start + timedelta(days=60),
        )  # fmt: skip
        take_through_lifecycle(session, actors, emergency, "active", start)
        created += 1
    if have("hw-health-care", "hw-fire"):
        referrals = draft_demo_agreement(
            session, actors["hw-fire"], "fire-home-safety",
            "Home fire safety visit referrals for home oxygen users", today + timedelta(days=14),
        )  # fmt: skip
        take_through_lifecycle(
            session, actors, referrals, "submitted", today, approving=["hw-fire"]
        )
        created += 1
    if have("west-mercia-police", "worcs-children-first"):
        service.create_draft(
            session, actors["worcs-children-first"], title="Safeguarding children: police "
            "and children's services", template_key="safeguarding-children",
            reason="Replaces the paper protocol of 2019",
        )  # fmt: skip
        created += 1
    if have("worcestershire-cc", "hw-icb", "hw-fire", "bromsgrove-dc"):
        start = today - timedelta(days=300)
        deaths = draft_demo_agreement(
            session, actors["worcestershire-cc"], "death-notifications",
            "Death notifications (tell us once)", start, review_days=700,
        )  # fmt: skip
        take_through_lifecycle(session, actors, deaths, "active", start)
        service.suspend(
            session,
            actors["hw-icb"],
            deaths,
            reason="Notifications reached the wrong district in October; suspended while the "
            "matching is fixed",
        )
        # Back in force: each partner is now told only of people the person index matched to
        # its own records at high precision (docs/events.md). The suspension stays on record.
        service.resume(
            session,
            actors["hw-icb"],
            deaths,
            reason="Matching fixed: only high-precision matches are sent, uncertain ones go to "
            "clerical review first",
            today=today,
        )
        created += 1
    created += seed_street_works(session, actors, today)
    if have("bromsgrove-dc", "worcestershire-cc"):
        start = today - timedelta(days=250)
        spd = draft_demo_agreement(
            session, actors["bromsgrove-dc"], "single-person-discount",
            "Council tax single person discount review (Bromsgrove)", start,
        )  # fmt: skip
        take_through_lifecycle(session, actors, spd, "active", start)
        service.revoke(
            session,
            actors["bromsgrove-dc"],
            spd,
            reason="Replaced by the National Fraud Initiative's own matching",
        )
        created += 1
    created += seed_discount_review(session, actors, today)
    # Added last, so the earlier demo agreements keep their references.
    later = (seed_care_planning, seed_life_event_agreements)
    return created + sum(seed(session, actors, today) for seed in later)


def seed_life_event_agreements(session: Session, actors: Mapping[str, Actor], today: date) -> int:
    """Births and changes of address told under agreements in force (after the others, so
    their references stay). Returns the number created."""
    created = 0
    for template, title in (
        ("birth-notifications", "Birth notifications"),
        ("change-of-address-notifications", "Change of address notifications"),
        ("change-of-address-alerts", "Change of address alerts (without the address)"),
    ):
        parties = [key for key, _, _ in library.get(template).parties]
        if not all(key in actors for key in parties):
            continue
        start = today - timedelta(days=60)
        version = draft_demo_agreement(session, actors["worcestershire-cc"], template, title, start)
        take_through_lifecycle(session, actors, version, "active", start)
        created += 1
    return created


def seed_care_planning(session: Session, actors: Mapping[str, Actor], today: date) -> int:
    """Post-hospital care planning in force between the trust, the ICB and the county."""
    if not all(key in actors for key in ("worcs-acute", "hw-icb", "worcestershire-cc")):
        return 0
    start = today - timedelta(days=120)
    care_planning = draft_demo_agreement(
        session, actors["hw-icb"], "discharge-care-planning",
        "Post-hospital care planning (discharge risk and demand)", start,
    )  # fmt: skip
    take_through_lifecycle(session, actors, care_planning, "active", start)
    return 1


def seed_discount_review(session: Session, actors: Mapping[str, Actor], today: date) -> int:
    """The single person discount review in force between every district council and the ICB
    (the revoked Bromsgrove agreement above is its history). Returns the number created."""
    if not all(key in actors for key in (*library.DISCOUNT_DISTRICTS.values(), "hw-icb")):
        return 0
    start = today - timedelta(days=30)
    review = draft_demo_agreement(
        session, actors["worcester-city"], "single-person-discount",
        "Council tax single person discount review: district councils and the ICB", start,
    )  # fmt: skip
    take_through_lifecycle(session, actors, review, "active", start)
    return 1


def seed_street_works(session: Session, actors: Mapping[str, Actor], today: date) -> int:
    """The street works agreements: an earlier one left to expire, and its successor in force
    between every promoter. Returns the number created."""
    created = 0

    def have(*keys: str) -> bool:
        return all(key in actors for key in keys)

    if have("mercia-water", "worcestershire-cc"):
        start = today - timedelta(days=400)
        works = draft_demo_agreement(
            session, actors["worcestershire-cc"], "street-works",
            "Street works co-ordination (previous agreement)", start, review_days=380,
        )  # fmt: skip
        take_through_lifecycle(session, actors, works, "active", start)
        service.expire_due(session, today)
        created += 1
    if have(*(key for key, _, _ in library.WORKS_PROMOTERS)):
        # Its successor, in force: every promoter publishes its works to every other.
        start = today - timedelta(days=20)
        works = draft_demo_agreement(
            session, actors["worcestershire-cc"], "street-works",
            "Street works co-ordination: county, districts and utilities", start,
        )  # fmt: skip
        take_through_lifecycle(session, actors, works, "active", start)
        created += 1
    return created
