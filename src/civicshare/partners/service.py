"""Partners: the organisations of the partnership."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.partners.models import (
    Membership,
    MembershipRole,
    Partner,
    PartnerStatus,
    PartnerType,
    Person,
    Role,
)


def get_by_key(session: Session, key: str) -> Partner | None:
    return session.scalars(select(Partner).where(Partner.key == key)).one_or_none()


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name)))


def upsert(session: Session, records: Iterable[Mapping[str, Any]]) -> list[Partner]:
    """Create or update partners by key; each record names key, name, type and optionally
    status, ods_code and district. Unknown types are refused with the record's key named."""
    partners = []
    for index, record in enumerate(records, start=1):
        key = record.get("key")
        if not key:
            raise ValueError(f"partner {index}: field 'key' is required")
        try:
            partner_type = PartnerType(record["type"])
        except (KeyError, ValueError):
            allowed = ", ".join(t.value for t in PartnerType)
            raise ValueError(
                f"partner {key}: field 'type' is {record.get('type')!r}; expected one of {allowed}"
            ) from None
        partner = get_by_key(session, key) or Partner(key=key)
        partner.name = record["name"]
        partner.type = partner_type
        partner.status = PartnerStatus(record.get("status", partner.status or "invited"))
        partner.ods_code = record.get("ods_code")
        partner.district = record.get("district")
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
        raise ValueError(f"person {display_name!r}: field 'email' is not an e-mail address")
    if get_person_by_email(session, email) is not None:
        raise ValueError(f"person {email}: someone with this e-mail address already exists")
    person = Person(email=email, display_name=display_name.strip())
    session.add(person)
    session.flush()
    return person


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
        raise ValueError(
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
