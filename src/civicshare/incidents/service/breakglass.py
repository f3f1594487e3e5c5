"""Break-glass: named detail at one household, for a stated reason, for one incident and one
membership, expiring; views of other partners' records are queued for their IG leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.config import Settings
from civicshare.dataplane.query import PERSON_KEY
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.models import (
    BreakGlass,
    BreakGlassReview,
    Incident,
    IncidentStatus,
)
from civicshare.incidents.service.common import (
    BREAK_GLASS_HOURS,
    MAX_BREAK_GLASS_HOURS,
    MIN_REASON,
    audit_incident,
    check_free_text,
    log_event,
    require_responder,
    share_purpose,
)
from civicshare.incidents.service.drawing import DrawCache
from civicshare.incidents.service.households_view import compute_households, household_key
from civicshare.incidents.service.incidents import may_see, unseen
from civicshare.incidents.service.priority import LABEL, RANK
from civicshare.partners import service as partners

# -- break-glass ----------------------------------------------------------------------------


def active_break_glass(session: Session, actor: Actor, incident: Incident) -> BreakGlass | None:
    now = datetime.now(UTC)
    for grant in session.scalars(
        select(BreakGlass)
        .where(
            BreakGlass.incident_id == incident.id,
            BreakGlass.membership_id == actor.membership_id,
            BreakGlass.ended_at.is_(None),
        )
        .order_by(BreakGlass.id.desc())
    ):
        expires = (
            grant.expires_at if grant.expires_at.tzinfo else grant.expires_at.replace(tzinfo=UTC)
        )
        if expires > now:
            return grant
    return None


def break_glass(
    session: Session,
    actor: Actor,
    incident: Incident,
    reason: str,
    hours: float = BREAK_GLASS_HOURS,
) -> BreakGlass:
    require_responder(actor)
    if not may_see(session, actor, incident):
        raise unseen(session, actor, incident)
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is closed.", status=409)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise IncidentError(
            "State why you need named people's details (for example, crews entering 4 Mill "
            "Lane need to know who is inside).",
            "reason",
        )
    check_free_text(reason, "reason", "A break-glass reason")
    if not (0 < hours <= MAX_BREAK_GLASS_HOURS):
        raise IncidentError(
            f"Break-glass lasts more than 0 and at most {MAX_BREAK_GLASS_HOURS} hours.", "hours"
        )
    now = datetime.now(UTC)
    grant = BreakGlass(
        incident_id=incident.id,
        membership_id=actor.membership_id,
        reason=reason,
        opened_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(grant)
    session.flush()
    log_event(session, incident, actor, "break_glass", reason, break_glass=grant.id, hours=hours)
    audit_incident(
        session,
        actor,
        "incident_break_glass",
        incident,
        reason=reason,
        details={"break_glass": grant.id, "expires_at": grant.expires_at.isoformat()},
    )
    return grant


INTERNAL = ("needs",)


def people_at(
    session: Session,
    settings: Settings,
    actor: Actor,
    incident: Incident,
    key: str,
    *,
    cache: DrawCache | None = None,
) -> dict[str, Any]:
    """Named detail at one household inside the area: exactly the columns the agreement
    grants, as it grants them. Records your own partner provided need no break-glass (it is
    your own data: social care sees its clients, the fire service its visits); other
    partners' records need the actor's break-glass, and each such view is queued for review by
    those partners' IG leads. Every view is logged and audited."""
    grant = active_break_glass(session, actor, incident)
    area, layer, _gaz, houses = compute_households(session, settings, actor, incident, cache)
    house = next((h for h in houses if h["key"] == key), None)
    if house is None:
        raise IncidentError(
            f"No vulnerable household {key} is inside {incident.reference}.", status=404
        )
    people, seen, withheld_records = [], {}, 0
    for i in layer.index.within(area):
        source = layer.sources[int(layer.source_of[i])]
        row = int(layer.row_of[i])
        if household_key(layer, int(i)) != key:
            continue
        own = source.provider_key == actor.partner_key
        if grant is None and not own:
            withheld_records += 1
            continue
        values = source.rows[row]
        reader = source.reader
        name = (
            " ".join(str(values[c]) for c in reader.names if values.get(c)) or "(name not shared)"
        )
        people.append(
            {
                "name": name,
                "partner": source.provider_name,
                "dataset": source.dataset,
                "needs": [LABEL[n] for n in sorted(source.needs[row], key=RANK.__getitem__)],
                "last_verified": source.verified[row],
                "own": own,
                "person": (source.person[row] or "")[:12] or None,
                "placed_by": layer.placed_by[i],
                "details": {
                    c: (str(v) if v is not None else "")
                    for c, v in values.items()
                    if c != PERSON_KEY
                },
            }
        )
        if own:
            continue  # your own partner's data: nothing to review
        entry = seen.setdefault(source.provider_key, {"datasets": set(), "records": 0})
        entry["datasets"].add(source.dataset)
        entry["records"] += 1
    if not people:
        raise IncidentError(
            "Named detail needs break-glass for this incident: state your reason first.",
            status=403,
        )
    people.sort(key=lambda p: (p["person"] or "~", p["dataset"]))  # one person's records together
    for provider_key, entry in seen.items():
        partner = partners.get_by_key(session, provider_key)
        review = session.scalars(
            select(BreakGlassReview).where(
                BreakGlassReview.break_glass_id == grant.id,
                BreakGlassReview.partner_id == partner.id,
            )
        ).one_or_none()
        if review is None:
            review = BreakGlassReview(
                break_glass_id=grant.id, partner_id=partner.id, datasets=[], records_seen=0
            )
            session.add(review)
        review.datasets = sorted(set(review.datasets or []) | entry["datasets"])
        review.records_seen = (review.records_seen or 0) + entry["records"]
    log_event(
        session,
        incident,
        actor,
        "named_detail",
        f"{actor.label} saw {len(people)} named records at {house['address']}",
        household=key,
        records=len(people),
        break_glass=grant.id if grant else None,
        partners=sorted(seen),
    )
    audit_incident(
        session,
        actor,
        "incident_named_detail_viewed",
        incident,
        reason=grant.reason if grant else "own partner's records",
        purpose=share_purpose(incident),
        row_count=len(people),
        outcome="allowed",
        details={
            "household": key,
            "break_glass": grant.id if grant else None,
            "partners": sorted(seen),
        },
    )
    return {
        "household": house,
        "people": people,
        "break_glass": grant,
        "needs_break_glass": withheld_records,
    }
