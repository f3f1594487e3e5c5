"""Partners: the organisations of the partnership."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.partners.models import Partner, PartnerStatus, PartnerType


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
