"""What every part of the incidents service shares: its limits, the responder check, the
incident log, the audit record and the refusal of identifiers in free text."""

from __future__ import annotations

from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.models import (
    Incident,
    IncidentEvent,
)
from civicshare.partners.models import Role

BREAK_GLASS_HOURS = 12
MAX_BREAK_GLASS_HOURS = 72
MIN_REASON = 10
KINDS = ("fire", "flood", "gas", "chemical", "power", "other")
# An incident area further than this from every property and district boundary the partnership
# knows (its reference data) is refused unless the responder confirms it (a mistyped centre, a
# map clicked in the wrong county, latitude and longitude swapped).
OUTSIDE_AREA_M = 10_000.0


def require_responder(actor: Actor) -> None:
    """Refuse (403) an actor whose membership lacks the responder role."""
    if not actor.has_role(Role.responder):
        raise IncidentError(
            f"Acting for {actor.partner_name}, you are not a responder: only responders open "
            "incidents and see households.",
            status=403,
        )


def log_event(session, incident, actor: Actor | None, action, summary, **details) -> IncidentEvent:
    """Add an entry to the incident's own log (shown on the incident page)."""
    event = IncidentEvent(
        incident_id=incident.id,
        membership_id=actor.membership_id if actor else None,
        action=action,
        summary=summary,
        details=details,
    )
    session.add(event)
    return event


def check_free_text(text: str, field: str, what: str) -> None:
    """Titles, notes, reasons and comments go into the audit log (and an incident's title into
    the purpose of every share it makes): none may hold a resident's identifier."""
    refusal = audit.identifier_refusal(what, text)
    if refusal:
        raise IncidentError(f"{refusal}.", field, status=422)


def audit_incident(session, actor, action, incident, reason="", **facts) -> None:
    """Write an audit record about `incident`, free text redacted; `details` join the
    incident's reference, other `facts` pass to audit.record."""
    details = facts.pop("details", {})
    if "purpose" in facts:  # texts stored before identifiers were refused are kept redacted
        facts["purpose"] = audit.redacted(facts["purpose"])
    audit.record(
        session,
        actor,
        action,
        "incident",
        incident.reference,
        reason=audit.redacted(reason) or "",
        agreement_ref=incident.agreement,
        details={"incident": incident.reference, **details},
        **facts,
    )


def share_purpose(incident: Incident) -> str:
    """The incident in words: the note of every share it makes, and its audit records' purpose."""
    return f"Incident {incident.reference}: {incident.title} (vulnerable households in the area)"


def share_purpose_code(version) -> str:
    """The permitted purpose an incident's shares name: the first its emergency agreement lists
    (the agreement's main purpose; the incident template lists `incident-response` first)."""
    codes = version.purpose_codes()
    return codes[0] if codes else ""
