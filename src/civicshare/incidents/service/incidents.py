"""Incidents: open, list, see, change the area of and close an incident; who may see one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.config import Settings, get_settings
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.gazetteer import gazetteer
from civicshare.incidents.geometry import (
    Area,
    BadArea,
    distance_to_points,
    distance_to_shapes,
)
from civicshare.incidents.models import (
    AreaKind,
    BreakGlass,
    Incident,
    IncidentEvent,
    IncidentStatus,
)
from civicshare.incidents.service.common import (
    KINDS,
    MIN_REASON,
    OUTSIDE_AREA_M,
    audit_incident,
    check_free_text,
    log_event,
    require_responder,
)
from civicshare.maps.reference import PROPERTIES, district_shapes, reference_path
from civicshare.partners.models import Membership, Role
from civicshare.sharing import service as sharing

# -- incidents --------------------------------------------------------------------------------


def area_of(incident: Incident) -> Area:
    if incident.area_kind == AreaKind.circle:
        return Area.circle(incident.centre_easting, incident.centre_northing, incident.radius_m)
    origin = None
    if incident.centre_easting is not None and incident.centre_northing is not None:
        origin = (incident.centre_easting, incident.centre_northing)
    return Area.from_polygons(incident.polygon, origin)


def emergency_agreements_for(session: Session, actor: Actor) -> list:
    """Active emergency agreement versions under which the actor's partner receives data."""
    found = []
    for version in agreements.active_versions(session):
        party = version.party(actor.partner_id)
        if version.emergency and party is not None and party.role.receives:
            found.append(version)
    return sorted(found, key=lambda v: v.agreement.reference, reverse=True)


def _area_details(area: Area) -> dict[str, Any]:
    if area.kind == "circle":
        return {"kind": "circle", "centre": list(area.origin), "radius_m": area.radius_m}
    return {"kind": "polygon", "origin": list(area.origin), "polygons": len(area.polygons)}


def _set_area(incident: Incident, area: Area) -> None:
    incident.area_kind = AreaKind(area.kind)
    incident.centre_easting, incident.centre_northing = area.origin
    incident.radius_m = area.radius_m
    incident.polygon = (
        [[[list(p) for p in ring] for ring in rings] for rings in area.polygons]
        if area.kind == "polygon"
        else None
    )


def distance_outside(settings: Settings, area: Area) -> float | None:
    """Metres from the area to the nearest property of the address gazetteer or district
    boundary the partnership knows (0 when it touches or overlaps one); None when neither
    reference file is installed, so there is nothing to measure against."""
    found = []
    if reference_path(settings, PROPERTIES).is_file():
        found.append(distance_to_points(area, gazetteer(settings).index))
    found.append(distance_to_shapes(area, district_shapes(settings)))
    found = [distance for distance in found if distance is not None]
    return min(found) if found else None


def _outside_area(settings: Settings, area: Area, confirmed: bool) -> dict[str, Any] | None:
    """Refuse an area far from everything the partnership knows unless confirmed; the facts
    to record when it was confirmed."""
    distance = distance_outside(settings, area)
    if distance is None or distance <= OUTSIDE_AREA_M:
        return None
    if not confirmed:
        raise IncidentError(
            f"The incident area is {distance / 1000:,.1f} km from the nearest property or "
            f"district the partnership knows (more than {OUTSIDE_AREA_M / 1000:,.0f} km): "
            "check the centre or polygon, or confirm that the incident is outside the "
            "partnership's area.",
            "confirm_outside_area",
            status=422,
        )
    return {"distance_m": round(distance), "limit_m": OUTSIDE_AREA_M, "confirmed": True}


def open_incident(
    session: Session,
    actor: Actor,
    *,
    title: str,
    kind: str,
    area: Area,
    agreement: str | None = None,
    settings: Settings | None = None,
    confirm_outside_area: bool = False,
) -> Incident:
    """Open an incident. An area more than OUTSIDE_AREA_M from every property and district
    the partnership knows is refused (field `confirm_outside_area`, status 422) unless
    `confirm_outside_area`; a confirmation is recorded in the incident log and the audit."""
    require_responder(actor)
    title = (title or "").strip()
    if len(title) < 3:
        raise IncidentError(
            "Give the incident a title (for example, House fire, 12 Mill Lane).", "title"
        )
    check_free_text(title, "title", "An incident's title")
    if kind not in KINDS:
        raise IncidentError(f"Choose the kind of incident: one of {', '.join(KINDS)}.", "kind")
    available = emergency_agreements_for(session, actor)
    if not available:
        raise IncidentError(
            f"No active emergency agreement lets {actor.partner_name} receive data today.",
            "agreement",
            status=403,
        )
    if agreement:
        chosen = next((v for v in available if v.agreement.reference == agreement), None)
        if chosen is None:
            raise IncidentError(
                f"{agreement} is not an active emergency agreement {actor.partner_name} receives "
                "under.",
                "agreement",
                status=403,
            )
    elif len(available) == 1:
        chosen = available[0]
    else:
        references = ", ".join(v.agreement.reference for v in available)
        raise IncidentError(
            f"Several emergency agreements are active ({references}): choose one.", "agreement"
        )
    outside = _outside_area(settings or get_settings(), area, confirm_outside_area)
    number = (session.scalar(select(func.max(Incident.id))) or 0) + 1
    incident = Incident(
        reference=f"INC-{number:04d}",
        title=title,
        kind=kind,
        agreement=chosen.agreement.reference,
        partner_id=actor.partner_id,
        opened_by_id=actor.membership_id,
        area_kind=AreaKind(area.kind),
    )
    _set_area(incident, area)
    session.add(incident)
    session.flush()
    details = _area_details(area)
    summary = f"Opened by {actor.label}"
    if outside is not None:
        details["outside_area"] = outside
        summary += (
            f", confirmed outside the partnership's area ({outside['distance_m'] / 1000:,.1f} "
            "km from the nearest property or district it knows)"
        )
    log_event(session, incident, actor, "opened", summary, **details)
    audit_incident(session, actor, "incident_opened", incident, reason=title, details=details)
    return incident


def get_incident(session: Session, reference: str) -> Incident:
    found = session.scalars(select(Incident).where(Incident.reference == reference)).one_or_none()
    if found is None:
        raise IncidentError(f"There is no incident {reference}.", status=404)
    return found


def may_see(session: Session, actor: Actor, incident: Incident) -> bool:
    """Responders and IG leads of a party to the incident's agreement (any version)."""
    if not actor.has_role(Role.responder, Role.ig_lead):
        return False
    return is_party(session, actor, incident)


def is_party(session: Session, actor: Actor, incident: Incident) -> bool:
    """Whether the actor's partner is a party to the incident's agreement (any version)."""
    # Asked several times in one unit of work (the route, then the view): answered once.
    memo = session.info.setdefault("incidents.may_see", {})
    key = (actor.partner_id, incident.id, incident.agreement)
    if key not in memo:
        memo[key] = sharing.is_party(session, incident.agreement, actor.partner_id)
    return memo[key]


def unseen(session: Session, actor: Actor, incident: Incident, acts_under: bool = False):
    """Why may_see() refused: the missing role when the actor's partner is a party, else that
    the partner is not a party."""
    if is_party(session, actor, incident):
        return IncidentError(
            f"Acting for {actor.partner_name}, a party to {incident.agreement}, you are neither a "
            f"responder nor an IG lead: only they see {incident.reference}.",
            status=403,
        )
    return IncidentError(
        f"{actor.partner_name} is not party to {incident.agreement}"
        + (f", the agreement {incident.reference} acts under." if acts_under else "."),
        status=403,
    )


def get_for(session: Session, actor: Actor, reference: str) -> Incident:
    incident = get_incident(session, reference)
    if not may_see(session, actor, incident):
        raise unseen(session, actor, incident, acts_under=True)
    return incident


def list_for(session: Session, actor: Actor) -> list[Incident]:
    incidents = session.scalars(select(Incident).order_by(Incident.id.desc())).all()
    return [i for i in incidents if may_see(session, actor, i)]


def update_area(
    session: Session, actor: Actor, incident: Incident, area: Area, note: str = ""
) -> Incident:
    require_responder(actor)
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is closed.", status=409)
    check_free_text(note, "note", "A note")
    before = _area_details(area_of(incident))
    _set_area(incident, area)
    incident.updated_at = datetime.now(UTC)
    details = {"before": before, "after": _area_details(area)}
    log_event(session, incident, actor, "area_changed", note or "Area changed", **details)
    audit_incident(session, actor, "incident_updated", incident, reason=note, details=details)
    return incident


def close_incident(session: Session, actor: Actor, incident: Incident, note: str) -> Incident:
    require_responder(actor)
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is already closed.", status=409)
    note = (note or "").strip()
    if len(note) < MIN_REASON:
        raise IncidentError(
            "Say why the incident is closed (for example, stood down at 04:10).", "note"
        )
    check_free_text(note, "note", "A note")
    now = datetime.now(UTC)
    incident.status = IncidentStatus.closed
    incident.closed_at = now
    incident.closing_note = note
    for grant in session.scalars(
        select(BreakGlass).where(
            BreakGlass.incident_id == incident.id, BreakGlass.ended_at.is_(None)
        )
    ):
        grant.ended_at = now
    log_event(session, incident, actor, "closed", note)
    audit_incident(session, actor, "incident_closed", incident, reason=note)
    return incident


def events(session: Session, incident: Incident) -> list[IncidentEvent]:
    return list(
        session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident.id)
            .order_by(IncidentEvent.id)
        )
    )


def membership_label(session: Session, membership_id: int | None) -> str:
    if membership_id is None:
        return "the gateway"
    membership = session.get(Membership, membership_id)
    return f"{membership.person.display_name} ({membership.partner.name})"


def area_from_input(
    *,
    easting: float | None = None,
    northing: float | None = None,
    radius_m: float | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    geojson: Any = None,
) -> Area:
    """An area from what a form, the API or the CLI gives: a point (BNG or WGS84) and a radius,
    or a GeoJSON polygon (optionally with a point as the origin of distances)."""
    from civicshare.incidents.geometry import parse_geojson
    from civicshare.maps.projection import to_bng

    if (latitude is None) != (longitude is None):
        raise BadArea(
            "latitude" if latitude is None else "longitude", "give both latitude and longitude"
        )
    if latitude is not None:
        easting, northing = (float(v) for v in to_bng(longitude, latitude))
    if geojson not in (None, "", {}):
        origin = (easting, northing) if easting is not None and northing is not None else None
        return Area.from_polygons(parse_geojson(geojson), origin)
    if easting is None or northing is None:
        raise BadArea(
            "centre", "give a centre (easting and northing, or latitude and longitude) or a polygon"
        )
    if radius_m is None:
        raise BadArea("radius_m", "give a radius in metres")
    return Area.circle(float(easting), float(northing), float(radius_m))


def rings_in_bng(polygons: Iterable) -> list:
    return [[[list(p) for p in ring] for ring in rings] for rings in polygons]
