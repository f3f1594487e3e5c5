"""Partners: the organisations of the partnership."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor, actor_for
from civicshare.audit import service as audit
from civicshare.core.errors import DomainError
from civicshare.db import utcnow
from civicshare.partners.models import (
    CharterEndorsement,
    CharterVersion,
    Membership,
    MembershipRole,
    Partner,
    PartnerStatus,
    PartnerType,
    Person,
    Role,
)


class PartnerError(DomainError, ValueError):
    """A change to partners, people or the charter that cannot be made, said plainly (a
    ValueError too, for callers that catch that)."""

    status = 422


EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# What a partner's own admin may change about it.
DETAIL_FIELDS = (
    "name",
    "ods_code",
    "district",
    "ico_registration",
    "dpo_name",
    "dpo_email",
    "dpo_address",
    "caldicott_guardian",
    "siro",
)


def get_by_key(session: Session, key: str) -> Partner | None:
    return session.scalars(select(Partner).where(Partner.key == key)).one_or_none()


def require(session: Session, key: str, field: str = "key") -> Partner:
    """The partner with this key; refused (404, naming `field`) when there is none."""
    partner = get_by_key(session, key)
    if partner is None:
        raise PartnerError(f"There is no partner with the key {key!r}.", field=field, status=404)
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name)))


def upsert(session: Session, records: Iterable[Mapping[str, Any]]) -> list[Partner]:
    """Create or update partners by key; each record names key, name, type and optionally
    status, ods_code and district. Unknown types are refused with the record's key named."""
    partners = []
    for index, record in enumerate(records, start=1):
        key = record.get("key")
        if not key:
            raise PartnerError(f"partner {index}: field 'key' is required")
        try:
            partner_type = PartnerType(record["type"])
        except (KeyError, ValueError):
            allowed = ", ".join(t.value for t in PartnerType)
            raise PartnerError(
                f"partner {key}: field 'type' is {record.get('type')!r}; expected one of {allowed}"
            ) from None
        partner = get_by_key(session, key) or Partner(key=key)
        partner.name = record["name"]
        partner.type = partner_type
        partner.status = PartnerStatus(record.get("status", partner.status or "invited"))
        for field in DETAIL_FIELDS:
            if field in record:
                setattr(partner, field, record[field])
        session.add(partner)
        partners.append(partner)
    session.flush()
    return partners


# -- people and memberships ----------------------------------------------------------------


def get_person_by_email(session: Session, email: str) -> Person | None:
    return session.scalars(
        select(Person).where(Person.email == email.strip().lower())
    ).one_or_none()


def create_person(session: Session, *, email: str, display_name: str) -> Person:
    email = email.strip().lower()
    if "@" not in email:
        raise PartnerError(
            f"person {display_name!r}: field 'email' is not an e-mail address", field="email"
        )
    if get_person_by_email(session, email) is not None:
        raise PartnerError(
            f"person {email}: someone with this e-mail address already exists",
            field="email",
            status=409,
        )
    person = Person(email=email, display_name=display_name.strip())
    session.add(person)
    session.flush()
    return person


def service_actor(session: Session, partner: Partner, *, email: str, name: str, via: str) -> Actor:
    """The gateway's own analyst membership of `partner` as the person `email`, for a service
    that reads as that partner (made the first time; it has no password and cannot sign in)."""
    person = get_person_by_email(session, email) or create_person(
        session, email=email, display_name=name
    )
    membership = next((m for m in person.memberships if m.partner_id == partner.id), None)
    if membership is None:
        membership = add_membership(session, person, partner, [Role.analyst])
    return actor_for(membership, via)


def add_membership(
    session: Session,
    person: Person,
    partner: Partner,
    roles: Iterable[Role | str],
    *,
    job_title: str = "",
) -> Membership:
    """Make `person` a member of `partner` with exactly these roles (replacing earlier ones)."""
    try:
        wanted = {Role(role) for role in roles}
    except ValueError as error:
        allowed = ", ".join(role.value for role in Role)
        raise PartnerError(
            f"membership of {person.email} in {partner.key}: {error}; roles are {allowed}"
        ) from None
    membership = session.scalars(
        select(Membership).where(
            Membership.person_id == person.id, Membership.partner_id == partner.id
        )
    ).one_or_none() or Membership(person=person, partner=partner)
    membership.job_title = job_title
    membership.active = True
    membership.ended_at = None
    membership.role_grants = [MembershipRole(role=role) for role in sorted(wanted)]
    session.add(membership)
    session.flush()
    return membership


def members_with_role(session: Session, partner_id: int, role: Role) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .join(MembershipRole)
            .where(
                Membership.partner_id == partner_id,
                Membership.active.is_(True),
                MembershipRole.role == role,
            )
        )
    )


# -- partner lifecycle and the charter -----------------------------------------------------


def set_status(session: Session, partner: Partner, status: PartnerStatus | str, on: date) -> None:
    """Join, suspend, reinstate or leave. Leaving ends every membership of the partner."""
    status = PartnerStatus(status)
    if partner.status == PartnerStatus.left and status != PartnerStatus.left:
        raise PartnerError(f"partner {partner.key}: has left; invite it again as a new partner")
    partner.status = status
    if status == PartnerStatus.endorsed and partner.joined_on is None:
        partner.joined_on = on
    if status == PartnerStatus.left:
        partner.left_on = on
        for membership in session.scalars(
            select(Membership).where(Membership.partner_id == partner.id)
        ):
            membership.active = False
            membership.ended_at = utcnow()


def current_charter(session: Session) -> CharterVersion | None:
    return session.scalars(
        select(CharterVersion).order_by(CharterVersion.version.desc()).limit(1)
    ).one_or_none()


def charter_versions(session: Session) -> list[CharterVersion]:
    return list(session.scalars(select(CharterVersion).order_by(CharterVersion.version.desc())))


def publish_charter(
    session: Session,
    *,
    title: str,
    body: str,
    summary_of_changes: str,
    on: date,
    actor: Actor | None = None,
    operator: dict | None = None,
) -> CharterVersion:
    if not body.strip():
        raise PartnerError("charter: field 'body' is empty; a charter needs its text")
    latest = current_charter(session)
    version = CharterVersion(
        version=(latest.version + 1) if latest else 1,
        title=title.strip(),
        body=body,
        summary_of_changes=summary_of_changes.strip(),
        published_on=on,
    )
    session.add(version)
    session.flush()
    _record(session, actor, operator, "charter_published", "charter", version.version)
    return version


def endorse_charter(
    session: Session,
    partner: Partner,
    charter: CharterVersion,
    *,
    signatory_name: str,
    signatory_role: str,
    on: date,
    actor: Actor | None = None,
    operator: dict | None = None,
) -> CharterEndorsement:
    if not signatory_name.strip() or not signatory_role.strip():
        raise PartnerError("endorsement: the signatory's name and role are both needed")
    existing = session.scalars(
        select(CharterEndorsement).where(
            CharterEndorsement.partner_id == partner.id,
            CharterEndorsement.charter_version_id == charter.id,
        )
    ).one_or_none()
    if existing is not None:
        raise PartnerError(
            f"{partner.name} has already endorsed charter version {charter.version}", status=409
        )
    endorsement = CharterEndorsement(
        partner_id=partner.id,
        charter_version_id=charter.id,
        signatory_name=signatory_name.strip(),
        signatory_role=signatory_role.strip(),
        endorsed_on=on,
        recorded_by_membership_id=actor.membership_id if actor else None,
    )
    session.add(endorsement)
    if partner.status == PartnerStatus.invited:
        set_status(session, partner, PartnerStatus.endorsed, on)
    session.flush()
    _record(
        session,
        actor,
        operator,
        "charter_endorsed",
        "charter",
        charter.version,
        details={"partner": partner.key, "signatory": endorsement.signatory_role},
    )
    return endorsement


@dataclass(frozen=True)
class EndorsementState:
    partner: Partner
    latest_version: int | None  # the newest charter version this partner endorsed
    endorsement: CharterEndorsement | None  # of the current version, if any

    @property
    def current(self) -> bool:
        return self.endorsement is not None


def endorsement_states(session: Session) -> list[EndorsementState]:
    """For each partner still in the partnership: has it endorsed the current charter?"""
    charter = current_charter(session)
    rows = session.execute(
        select(CharterEndorsement, CharterVersion.version).join(CharterVersion)
    ).all()
    latest: dict[int, int] = {}
    of_current: dict[int, CharterEndorsement] = {}
    for endorsement, version in rows:
        latest[endorsement.partner_id] = max(version, latest.get(endorsement.partner_id, 0))
        if charter is not None and endorsement.charter_version_id == charter.id:
            of_current[endorsement.partner_id] = endorsement
    return [
        EndorsementState(partner, latest.get(partner.id), of_current.get(partner.id))
        for partner in list_partners(session)
        if partner.status != PartnerStatus.left
    ]


def memberships_of_partner(session: Session, partner_id: int) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .join(Person)
            .where(Membership.partner_id == partner_id, Membership.active.is_(True))
            .order_by(Person.display_name)
        )
    )


def end_membership(
    session: Session,
    membership: Membership,
    actor: Actor | None = None,
    operator: dict | None = None,
) -> None:
    membership.active = False
    membership.ended_at = utcnow()
    _record(
        session,
        actor,
        operator,
        "membership_ended",
        "membership",
        membership.id,
        details={"partner": membership.partner.key},
    )


# -- audited changes, for the API, the pages and the CLI alike ------------------------------


def _record(session, actor, operator, action, entity_type, entity_id, *, reason="", details=None):
    """Every change to the partnership, with who (or which operator at the server) and why."""
    audit.record(
        session,
        actor,
        action,
        entity_type,
        entity_id,
        reason=reason,
        details={**(operator or {}), **(details or {})},
    )


def invite(
    session: Session,
    actor: Actor | None,
    *,
    key: str,
    name: str,
    type: PartnerType | str,
    ods_code: str | None = None,
    ico_registration: str | None = None,
    operator: dict | None = None,
) -> Partner:
    if get_by_key(session, key) is not None:
        raise PartnerError(f"A partner with the key {key} already exists", field="key", status=409)
    (partner,) = upsert(
        session,
        [
            {
                "key": key,
                "name": name,
                "type": type,
                "status": "invited",
                "ods_code": ods_code,
                "ico_registration": ico_registration,
            }
        ],
    )
    _record(session, actor, operator, "partner_invited", "partner", key)
    return partner


def update_details(
    session: Session,
    actor: Actor | None,
    partner: Partner,
    changes: Mapping[str, Any],
    operator: dict | None = None,
) -> list[str]:
    """Apply the changes to a partner's details; returns the fields that changed."""
    changed = []
    for field, value in changes.items():
        if field not in DETAIL_FIELDS:
            raise PartnerError(f"partner {partner.key}: field {field!r} cannot be changed here")
        if field == "dpo_email" and value and not EMAIL.fullmatch(str(value).strip()):
            raise PartnerError(
                f"partner {partner.key}: field 'dpo_email' is {value!r}, which is not an e-mail "
                "address (name@organisation.example)",
                field="dpo_email",
            )
        if getattr(partner, field) != value:
            setattr(partner, field, value)
            changed.append(field)
    if changed:
        _record(
            session,
            actor,
            operator,
            "partner_updated",
            "partner",
            partner.key,
            details={"fields": sorted(changed)},
        )
    return changed


def change_status(
    session: Session,
    actor: Actor | None,
    partner: Partner,
    status: PartnerStatus | str,
    *,
    reason: str,
    on: date,
    operator: dict | None = None,
) -> None:
    before = partner.status
    set_status(session, partner, status, on)
    _record(
        session,
        actor,
        operator,
        "partner_status_changed",
        "partner",
        partner.key,
        reason=reason,
        details={"from": before.value, "to": partner.status.value},
    )


def grant_membership(
    session: Session,
    actor: Actor | None,
    partner: Partner,
    *,
    email: str,
    roles: Iterable[Role | str],
    display_name: str | None = None,
    job_title: str = "",
    operator: dict | None = None,
) -> Membership:
    """Make someone (new or known by e-mail) a member of `partner` with exactly these roles."""
    person = get_person_by_email(session, email)
    if person is None:
        if not (display_name or "").strip():
            raise PartnerError(f"{email} is new here: give their display_name too")
        person = create_person(session, email=email, display_name=display_name)
    membership = add_membership(session, person, partner, roles, job_title=job_title)
    _record(
        session,
        actor,
        operator,
        "membership_granted",
        "membership",
        membership.id,
        details={"partner": partner.key, "roles": sorted(membership.roles)},
    )
    return membership
