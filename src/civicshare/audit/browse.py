"""Browsing the audit log: the records an IG lead may see, filtered, paged and exported.

Apart from `audit.service` (writing and verifying), which imports no domain: which agreements
an IG lead's partner is involved in is the agreements domain's to say."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from civicshare.agreements import service as agreements
from civicshare.audit import chain
from civicshare.audit.models import AuditRecord
from civicshare.core.identity import Actor

LONDON = ZoneInfo("Europe/London")


# -- browsing ----------------------------------------------------------------------------------


@dataclass
class AuditFilter:
    since: date | None = None
    until: date | None = None
    action: str | None = None
    partner: str | None = None
    agreement: str | None = None
    dataset: str | None = None
    outcome: str | None = None

    def query_args(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items() if v not in (None, "")}


def _involved_agreements(session: Session, actor: Actor) -> list[str]:
    refs = []
    for agreement, _shown in agreements.list_for(session, actor):
        parties = {p.partner_id for v in agreement.versions for p in v.parties}
        if actor.partner_id == agreement.drafted_by_partner_id or actor.partner_id in parties:
            refs.append(agreement.reference)
    return refs


def visible_to(session: Session, actor: Actor, host_partner: str) -> Any:
    """The records an IG lead may see: all of them for the host partner's IG leads; otherwise
    those their partner's people made, about their partner, on their datasets, or under an
    agreement their partner drafted or is party to. None means everything."""
    if actor.partner_key == host_partner:
        return None
    key = actor.partner_key
    conditions = [
        AuditRecord.actor_partner == key,
        AuditRecord.dataset.like(f"{key}/%"),
        (AuditRecord.entity_type == "partner") & (AuditRecord.entity_id == key),
    ]
    refs = _involved_agreements(session, actor)
    if refs:
        conditions.append(AuditRecord.agreement_ref.in_(refs))
    return or_(*conditions)


def _london_midnight(day: date) -> datetime:
    """The start of a day in Europe/London, in UTC (what the store holds)."""
    return datetime.combine(day, time.min, tzinfo=LONDON).astimezone(UTC)


def filtered(session: Session, actor: Actor, host_partner: str, wanted: AuditFilter) -> Select:
    query = select(AuditRecord)
    scope = visible_to(session, actor, host_partner)
    if scope is not None:
        query = query.where(scope)
    if wanted.since:
        query = query.where(AuditRecord.at >= _london_midnight(wanted.since))
    if wanted.until:
        query = query.where(AuditRecord.at < _london_midnight(wanted.until + timedelta(days=1)))
    if wanted.action:
        query = query.where(AuditRecord.action == wanted.action)
    if wanted.partner:
        query = query.where(
            or_(
                AuditRecord.actor_partner == wanted.partner,
                AuditRecord.dataset.like(f"{wanted.partner}/%"),
            )
        )
    if wanted.agreement:
        query = query.where(AuditRecord.agreement_ref == wanted.agreement)
    if wanted.dataset:
        query = query.where(AuditRecord.dataset == wanted.dataset)
    if wanted.outcome:
        query = query.where(AuditRecord.outcome == wanted.outcome)
    return query


def search(
    session: Session,
    actor: Actor,
    host_partner: str,
    wanted: AuditFilter,
    *,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditRecord], int]:
    query = filtered(session, actor, host_partner, wanted)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(AuditRecord.seq.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return list(rows), total


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditRecord.action).distinct().order_by("action")))


EXPORT_COLUMNS = (
    "seq",
    "at",
    "action",
    "entity_type",
    "entity_id",
    "actor_label",
    "actor_partner",
    "membership_id",
    "reason",
    "purpose",
    "agreement_ref",
    "agreement_version",
    "dataset",
    "columns",
    "row_count",
    "output_sha256",
    "outcome",
    "details",
    "prev_hash",
    "record_hash",
)


def export_row(entry: AuditRecord) -> list[Any]:
    out = []
    for name in EXPORT_COLUMNS:
        value = getattr(entry, name)
        if name == "at":
            value = chain.utc_text(value)
        elif name in ("columns", "details"):
            value = "" if value is None else json.dumps(value)
        out.append("" if value is None else value)
    return out


def as_dict(entry: AuditRecord) -> dict[str, Any]:
    out = {name: getattr(entry, name) for name in ("id", *EXPORT_COLUMNS)}
    out["at"] = chain.utc_text(entry.at)
    return out
