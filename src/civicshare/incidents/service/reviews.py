"""Retrospective review: each partner's IG leads review break-glass views of their data."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.models import (
    BreakGlassReview,
    ReviewStatus,
)
from civicshare.incidents.service.common import (
    MIN_REASON,
    audit_incident,
    check_free_text,
    log_event,
)
from civicshare.partners.models import Role

# -- retrospective review -------------------------------------------------------------------


def review_queue(
    session: Session, actor: Actor, *, pending_only: bool = False
) -> list[BreakGlassReview]:
    if not actor.has_role(Role.ig_lead):
        raise IncidentError("Only IG leads review break-glass access.", status=403)
    query = select(BreakGlassReview).where(BreakGlassReview.partner_id == actor.partner_id)
    if pending_only:
        query = query.where(BreakGlassReview.status == ReviewStatus.pending)
    reviews = session.scalars(query.order_by(BreakGlassReview.id.desc())).all()
    return sorted(reviews, key=lambda r: r.status != ReviewStatus.pending)


def review(
    session: Session, actor: Actor, review_id: int, outcome: str, comment: str
) -> BreakGlassReview:
    if not actor.has_role(Role.ig_lead):
        raise IncidentError("Only IG leads review break-glass access.", status=403)
    found = session.get(BreakGlassReview, review_id)
    if found is None or found.partner_id != actor.partner_id:
        raise IncidentError(f"There is no review {review_id} for {actor.partner_name}.", status=404)
    if outcome not in (ReviewStatus.appropriate.value, ReviewStatus.inappropriate.value):
        raise IncidentError("Say whether the access was appropriate or not.", "outcome")
    comment = (comment or "").strip()
    if outcome == ReviewStatus.inappropriate.value and len(comment) < MIN_REASON:
        raise IncidentError("Say what was inappropriate and what happens next.", "comment")
    check_free_text(comment, "comment", "A review comment")
    found.status = ReviewStatus(outcome)
    found.comment = comment
    found.reviewed_by_id = actor.membership_id
    found.reviewed_at = datetime.now(UTC)
    incident = found.break_glass.incident
    log_event(
        session,
        incident,
        actor,
        "reviewed",
        f"{actor.label} reviewed break-glass {found.break_glass_id}: {outcome}",
        review=found.id,
        outcome=outcome,
    )
    audit_incident(
        session,
        actor,
        "incident_break_glass_reviewed",
        incident,
        reason=comment,
        details={"review": found.id, "break_glass": found.break_glass_id, "outcome": outcome},
    )
    return found
