"""A library of agreement templates for the partnership's common patterns.

A template fills a new draft: parties (by partner key in the demo partnership, else the first
partner of the same type), the permitted purposes ("code: sentence"), the purpose explained,
lawful basis, data items with their treatments, handling and DPIA screening answers. The IG
officer then checks every section: a template is a start, not an approval. Dates are left
for the drafter to set. One module per field of work; each lists its `TEMPLATES`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.agreements.library import (
    councils,
    emergencies,
    events,
    health,
    safeguarding,
    works,
)
from civicshare.agreements.library.base import WORKS_PROMOTERS, Template
from civicshare.agreements.library.councils import DISCOUNT_DISTRICTS
from civicshare.partners.models import Partner, PartnerStatus, PartnerType

__all__ = ["DISCOUNT_DISTRICTS", "TEMPLATES", "WORKS_PROMOTERS", "Template", "apply", "get"]

TEMPLATES: dict[str, Template] = {
    t.key: t
    for module in (health, emergencies, safeguarding, councils, works, events)
    for t in module.TEMPLATES
}


def get(key: str) -> Template:
    from civicshare.agreements.service import NotFound

    try:
        return TEMPLATES[key]
    except KeyError:
        raise NotFound(
            f"There is no agreement template {key!r}; templates are {', '.join(TEMPLATES)}."
        ) from None


def _resolve(session: Session, key: str, partner_type: str) -> Partner | None:
    partners = session.scalars(
        select(Partner)
        .where(Partner.status.not_in([PartnerStatus.left, PartnerStatus.suspended]))
        .order_by(Partner.name)
    ).all()
    by_key = {p.key: p for p in partners}
    if key in by_key:
        return by_key[key]
    return next((p for p in partners if p.type == PartnerType(partner_type)), None)


def apply(session: Session, version, template: Template, actor=None) -> None:
    """Fill a draft from a template. Partners missing from this partnership are left out (the
    task list then shows what is missing)."""
    from civicshare.agreements import service

    mapping: dict[str, str] = {}
    parties = []
    for key, partner_type, role in template.parties:
        partner = _resolve(session, key, partner_type)
        if partner is None or partner.key in mapping.values():
            continue
        mapping[key] = partner.key
        parties.append({"partner": partner.key, "role": role})
    items = [
        {**item, "provider": mapping[item["provider"]]}
        for item in template.items
        if item["provider"] in mapping
    ]
    for name, value in template.fields.items():
        setattr(version, name, service.coerce_field(name, value))
    service.set_parties(session, version, parties)
    service.set_data_items(session, version, items)
