"""Incidents over HTTP: open an incident, see the vulnerable households inside it (JSON, CSV or
GeoJSON), break glass for named detail, close it, read its log; IG leads review break-glass.

Households come from service.households(), which decides and executes per dataset and audits
each view: there is no other door."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import RowId, SessionDep, Timestamp
from civicshare.incidents import service
from civicshare.incidents.models import Incident

router = ApiRouter(prefix="/api/incidents", tags=["incidents"])


# -- what the routes answer -------------------------------------------------------------------


class Origin(BaseModel):
    easting: float
    northing: float


class AreaOut(BaseModel):
    kind: str = Field(description="circle or polygon")
    origin: Origin = Field(description="Where distances are measured from (BNG metres).")
    radius_m: float | None
    polygons: list[Any] | None = Field(description="Rings of [easting, northing].")


class IncidentOut(BaseModel):
    reference: str
    title: str
    kind: str
    status: str
    agreement: str
    partner: str
    opened_by: str
    opened_at: Timestamp
    closed_at: Timestamp | None
    area: AreaOut


class ReviewOut(BaseModel):
    id: int
    incident: str
    incident_title: str
    who: str
    reason: str
    opened_at: Timestamp
    expires_at: Timestamp
    datasets: list[str]
    records_seen: int
    status: str
    reviewed_by: str | None
    reviewed_at: Timestamp | None
    comment: str


class Priority(BaseModel):
    rank: int
    key: str
    label: str


class WithheldOut(BaseModel):
    provider: str
    dataset: str
    reason: str
    clause: str


class HouseholdsOut(BaseModel):
    incident: str
    agreement: str
    output_sha256: str
    properties_in_area: int
    counts: dict[str, Any]
    priorities: list[Priority]
    withheld: list[WithheldOut] = Field(description="Datasets not shown, and why.")
    households: list[dict[str, Any]] = Field(
        description="Address, UPRN, distance, priority, needs, sources, location precision."
    )


class BreakGlassOut(BaseModel):
    id: int
    incident: str
    reason: str
    expires_at: Timestamp


class GrantOut(BaseModel):
    id: int
    expires_at: Timestamp


class PeopleOut(BaseModel):
    household: dict[str, Any]
    people: list[dict[str, Any]]
    break_glass: GrantOut | None = Field(description="The break-glass grant used, if any.")
    records_needing_break_glass: int


class LogEntryOut(BaseModel):
    at: Timestamp
    who: str
    action: str
    summary: str
    details: Any


# The households as a file instead (format=csv or geojson).
HOUSEHOLD_FILES = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/geo+json": {"schema": {"type": "object"}},
        },
        "description": "The households as JSON, CSV or GeoJSON (format=).",
    }
}


class AreaIn(BaseModel):
    easting: float | None = Field(None, description="Centre, British National Grid metres.")
    northing: float | None = None
    latitude: float | None = Field(None, description="Centre in WGS84, instead of easting.")
    longitude: float | None = None
    radius_m: float | None = Field(None, description="Radius in metres (with a centre).")
    geojson: Any = Field(
        None,
        description="A Polygon, MultiPolygon, Feature or FeatureCollection, WGS84 unless it "
        'names EPSG:27700 in "crs". A centre given with it is where distances are measured from.',
    )


class IncidentIn(AreaIn):
    title: str
    kind: str = Field("other", description=f"One of {', '.join(service.KINDS)}.")
    agreement: str | None = Field(
        None, description="Needed when several emergency agreements apply."
    )
    confirm_outside_area: bool = Field(
        False,
        description="Open it even though the area is more than 10 km from every property and "
        "district the partnership knows; without it such an area is refused with 422 "
        "(recorded in the incident log and the audit when given).",
    )


class AreaChange(AreaIn):
    note: str = ""


class CloseIn(BaseModel):
    note: str


class BreakGlassIn(BaseModel):
    reason: str
    hours: float = service.BREAK_GLASS_HOURS


class ReviewIn(BaseModel):
    outcome: str = Field(..., description="appropriate or inappropriate")
    comment: str = ""


def _area(body: AreaIn):
    return service.area_from_input(
        easting=body.easting,
        northing=body.northing,
        radius_m=body.radius_m,
        latitude=body.latitude,
        longitude=body.longitude,
        geojson=body.geojson,
    )


def summary(incident: Incident) -> dict[str, Any]:
    area = service.area_of(incident)
    return {
        "reference": incident.reference,
        "title": incident.title,
        "kind": incident.kind,
        "status": incident.status.value,
        "agreement": incident.agreement,
        "partner": incident.partner.key,
        "opened_by": incident.opened_by.person.display_name,
        "opened_at": incident.opened_at,
        "closed_at": incident.closed_at,
        "area": {
            "kind": area.kind,
            "origin": {"easting": area.origin[0], "northing": area.origin[1]},
            "radius_m": area.radius_m,
            "polygons": incident.polygon,
        },
    }


def _incident(session, actor, reference) -> Incident:
    return service.get_for(session, actor, reference)


@router.get(
    "",
    scope="incidents:read",
    response_model=list[IncidentOut],
    summary="Incidents your partner may see",
)
def list_incidents(actor: ActorDep, session: SessionDep):
    return jsonable_encoder([summary(i) for i in service.list_for(session, actor)])


@router.post(
    "",
    scope="incidents:write",
    response_model=IncidentOut,
    status_code=201,
    summary="Open an incident (responders)",
)
def open_incident(
    body: IncidentIn,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.open_incident(
        session, actor, title=body.title, kind=body.kind, area=_area(body),
        agreement=body.agreement, settings=request.app.state.settings,
        confirm_outside_area=body.confirm_outside_area,
    )  # fmt: skip
    return jsonable_encoder(summary(incident))


@router.get(
    "/reviews",
    scope="incidents:read",
    response_model=list[ReviewOut],
    summary="Break-glass access to your partner's data, for review (IG leads)",
)
def reviews(
    *,
    pending: bool = False,
    actor: ActorDep,
    session: SessionDep,
):
    found = service.review_queue(session, actor, pending_only=pending)
    return jsonable_encoder([review_entry(session, r) for r in found])


def review_entry(session, review) -> dict[str, Any]:
    grant = review.break_glass
    return {
        "id": review.id,
        "incident": grant.incident.reference,
        "incident_title": grant.incident.title,
        "who": service.membership_label(session, grant.membership_id),
        "reason": grant.reason,
        "opened_at": grant.opened_at,
        "expires_at": grant.expires_at,
        "datasets": review.datasets,
        "records_seen": review.records_seen,
        "status": review.status.value,
        "reviewed_by": service.membership_label(session, review.reviewed_by_id)
        if review.reviewed_by_id
        else None,
        "reviewed_at": review.reviewed_at,
        "comment": review.comment,
    }


@router.post(
    "/reviews/{review_id}",
    scope="incidents:write",
    response_model=ReviewOut,
    summary="Record the outcome of a break-glass review",
)
def review(
    review_id: RowId,
    body: ReviewIn,
    actor: ActorDep,
    session: SessionDep,
):
    found = service.review(session, actor, review_id, body.outcome, body.comment)
    return jsonable_encoder(review_entry(session, found))


@router.get(
    "/{reference}", scope="incidents:read", response_model=IncidentOut, summary="One incident"
)
def get_incident(
    reference: str,
    actor: ActorDep,
    session: SessionDep,
):
    return jsonable_encoder(summary(_incident(session, actor, reference)))


def result_body(result: service.Households) -> dict[str, Any]:
    return {
        "incident": result.incident,
        "agreement": result.agreement,
        "output_sha256": result.output_sha256,
        "properties_in_area": result.properties_in_area,
        "counts": result.counts,
        "priorities": [
            {"rank": service.RANK[k], "key": k, "label": label} for k, label in service.CATEGORIES
        ],
        "withheld": [w.__dict__ for w in result.withheld],
        "households": result.households,
    }


@router.get(
    "/{reference}/households",
    scope="incidents:read",
    response_model=HouseholdsOut,
    responses=HOUSEHOLD_FILES,
    summary="Vulnerable households inside the incident area (responders)",
    description="Household level: address, UPRN, distance, priority, needs, which partner said "
    "so and when it was last verified, and whether the location is the property (uprn) or its "
    "postcode's centroid. No names. Every call is audited.",
)
def households(
    *,
    reference: str,
    request: Request,
    format: str = Query("json", pattern="^(json|csv|geojson)$"),
    actor: ActorDep,
    session: SessionDep,
):
    incident = _incident(session, actor, reference)
    result = service.households(
        session,
        request.app.state.settings,
        actor,
        incident,
        via=f"api-{format}",
        cache=service.draw_cache(request.app),
    )
    headers = {"X-Civicshare-Agreement": result.agreement,
               "X-Civicshare-Output-SHA256": result.output_sha256}  # fmt: skip
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{reference}-households.csv"'
        return Response(service.export_csv(result), media_type="text/csv; charset=utf-8",
                        headers=headers)  # fmt: skip
    if format == "geojson":
        headers["Content-Disposition"] = f'attachment; filename="{reference}-households.geojson"'
        return Response(json.dumps(service.export_geojson(result)),
                        media_type="application/geo+json", headers=headers)  # fmt: skip
    body = result_body(result)
    try:  # plain str, int, float, list and dict: JSON as it is, without a second pass
        return JSONResponse(body, headers=headers)
    except TypeError:  # anything else: FastAPI's encoder converts it first, as before
        return JSONResponse(jsonable_encoder(body), headers=headers)


@router.patch(
    "/{reference}/area",
    scope="incidents:write",
    response_model=IncidentOut,
    summary="Move or resize the incident area",
)
def change_area(
    reference: str,
    body: AreaChange,
    actor: ActorDep,
    session: SessionDep,
):
    incident = _incident(session, actor, reference)
    service.update_area(session, actor, incident, _area(body), body.note)
    return jsonable_encoder(summary(incident))


@router.post(
    "/{reference}/close",
    scope="incidents:write",
    response_model=IncidentOut,
    summary="Close (stand down) the incident",
)
def close(
    reference: str,
    body: CloseIn,
    actor: ActorDep,
    session: SessionDep,
):
    incident = _incident(session, actor, reference)
    service.close_incident(session, actor, incident, body.note)
    return jsonable_encoder(summary(incident))


@router.post(
    "/{reference}/break-glass",
    scope="incidents:break-glass",
    response_model=BreakGlassOut,
    status_code=201,
    summary="Break glass: named detail",
)
def break_glass(
    reference: str,
    body: BreakGlassIn,
    actor: ActorDep,
    session: SessionDep,
):
    incident = _incident(session, actor, reference)
    grant = service.break_glass(session, actor, incident, body.reason, body.hours)
    return {"id": grant.id, "incident": reference, "reason": grant.reason,
            "expires_at": grant.expires_at.isoformat()}  # fmt: skip


@router.get(
    "/{reference}/households/{key}/people",
    scope="incidents:break-glass",
    response_model=PeopleOut,
    summary="Named people at one household (needs break-glass)",
)
def people(
    reference: str,
    key: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    incident = _incident(session, actor, reference)
    found = service.people_at(
        session,
        request.app.state.settings,
        actor,
        incident,
        key,
        cache=service.draw_cache(request.app),
    )
    grant = found["break_glass"]
    return jsonable_encoder({
        "household": found["household"], "people": found["people"],
        "break_glass": {"id": grant.id, "expires_at": grant.expires_at} if grant else None,
        "records_needing_break_glass": found["needs_break_glass"],
    })  # fmt: skip


@router.get(
    "/{reference}/log",
    scope="incidents:read",
    response_model=list[LogEntryOut],
    summary="The incident log: who did and saw what",
)
def log(
    reference: str,
    actor: ActorDep,
    session: SessionDep,
):
    incident = _incident(session, actor, reference)
    return jsonable_encoder([
        {"at": e.at, "who": service.membership_label(session, e.membership_id),
         "action": e.action, "summary": e.summary, "details": e.details}
        for e in service.events(session, incident)
    ])  # fmt: skip
