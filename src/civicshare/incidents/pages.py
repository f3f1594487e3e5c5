"""Incidents in the browser: the responder's map and list, break-glass, print and exports, the
incident log, and the IG leads' review queue. Households come only from service.households()."""

from __future__ import annotations

import contextlib
import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from civicshare.accounts.api import ActorDep
from civicshare.db import RowId, SessionDep
from civicshare.incidents import service
from civicshare.incidents.geometry import BadArea
from civicshare.maps.pages import allow_tiles, map_options
from civicshare.partners.models import Role
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/incidents")
def incidents_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return render(
        request,
        "incidents/list.html",
        active_nav="incidents",
        incidents=service.list_for(session, actor),
        is_responder=actor.has_role(Role.responder),
        is_ig_lead=actor.has_role(Role.ig_lead),
    )


def _new_page(request, actor, session, *, errors=None, form=None, status_code=200):
    response = render(
        request,
        "incidents/new.html",
        status_code=status_code,
        active_nav="incidents",
        agreements=service.emergency_agreements_for(session, actor),
        kinds=service.KINDS,
        errors=errors or {},
        form=form or {},
        map_options=map_options(request),
    )
    return allow_tiles(request, response)


@router.get("/incidents/new")
def new_incident_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    if not actor.has_role(Role.responder):
        raise HTTPException(403, "Only responders open incidents.")
    return _new_page(request, actor, session)


def _number(form, name, errors) -> float | None:
    value = str(form.get(name, "") or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        errors[name] = f"Enter {name.replace('_', ' ')} as a number"
        return None


def _area_from_form(form, errors):
    upload = form.get("geojson_file")
    geojson = str(form.get("geojson", "") or "").strip()
    if upload is not None and hasattr(upload, "file"):
        content = upload.file.read()
        if content:
            geojson = content.decode("utf-8", errors="replace")
    values = {
        name: _number(form, name, errors)
        for name in ("latitude", "longitude", "easting", "northing", "radius_m")
    }
    if errors:
        return None
    try:
        return service.area_from_input(geojson=geojson or None, **values)
    except BadArea as error:
        field = error.field.split(".")[0].split("[")[0]
        target = field if field in values else ("geojson" if geojson else "latitude")
        if field in ("centre", "origin"):
            target = "latitude"
        errors[target] = str(error)
        return None


@router.post("/incidents/new")
def open_incident(
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    errors: dict[str, str] = {}
    area = _area_from_form(form, errors)
    shown = {k: v for k, v in form.items() if isinstance(v, str)}
    if area is None:
        return _new_page(request, actor, session, errors=errors, form=shown, status_code=400)
    try:
        incident = service.open_incident(
            session,
            actor,
            title=str(form.get("title", "")),
            kind=str(form.get("kind", "")),
            area=area,
            agreement=str(form.get("agreement", "")) or None,
            settings=request.app.state.settings,
            confirm_outside_area=form.get("confirm_outside_area") == "yes",
        )
    except service.IncidentError as error:
        errors.update(field_errors(error, "title"))
        return _new_page(
            request, actor, session, errors=errors, form=shown, status_code=error.status
        )
    return RedirectResponse(f"/incidents/{incident.reference}", status_code=303)


def _map_data(incident, result: service.Households | None, options: dict) -> dict:
    """What the incident page gives the shared map (docs/maps.md): the area as context, each
    household as a feature (its priority the marker's number, colour and rank), the legend."""
    priorities = [
        {"rank": service.RANK[k], "key": k, "label": label, "short": service.SHORT[k]}
        for k, label in service.CATEGORIES
    ]
    labels = {p["rank"]: p["label"] for p in priorities}
    features = []
    for h in result.households if result is not None else []:
        distance = f"{h['distance_m']:,.0f} m"
        where = "" if h["precision"] == "uprn" else " (postcode centre)"
        features.append({
            "type": "Feature",
            "id": h["key"],
            "properties": {
                "title": f"Priority {h['priority']} ({labels[h['priority']]}): {h['address']}, "
                f"{distance}",
                "label": str(h["priority"]),
                "rank": h["priority"],
                "marker_class": f"app-priority app-priority--{h['priority']}",
                "popup": [
                    f"Priority {h['priority']}: {', '.join(service.SHORT[n] for n in h['needs'])}",
                    distance + where,
                ],
            },
            "geometry": {"type": "Point", "coordinates": [h["lon"], h["lat"]]},
        })  # fmt: skip
    legend = [
        {"marker_class": f"app-priority app-priority--{p['rank']}", "label": str(p["rank"]),
         "text": p["short"]}
        for p in priorities
    ]  # fmt: skip
    return {
        "priorities": priorities,
        "context": service.area_of(incident).to_wgs84_geojson(),
        "features": {"type": "FeatureCollection", "features": features},
        "options": {
            **options,
            "fit": "context",
            "noun": ["household", "households"],
            "rank_name": "priority",
            "legend": legend,
        },
    }


@router.get("/incidents/reviews")
def reviews_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _reviews_page(request, actor, session)


def _reviews_page(request, actor, session, *, errors=None, status_code=200):
    found = service.review_queue(session, actor)
    from civicshare.incidents.api import review_entry

    return render(
        request,
        "incidents/reviews.html",
        status_code=status_code,
        active_nav="incidents",
        reviews=[review_entry(session, r) for r in found],
        errors=errors or {},
    )


@router.post("/incidents/reviews/{review_id}")
def record_review(
    review_id: RowId,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    try:
        service.review(
            session, actor, review_id, str(form.get("outcome", "")), str(form.get("comment", ""))
        )
    except service.IncidentError as error:
        field = f"{error.field or 'outcome'}-{review_id}"
        return _reviews_page(
            request, actor, session, errors={field: str(error)}, status_code=error.status
        )
    return RedirectResponse("/incidents/reviews", status_code=303)


@router.get("/incidents/{reference}")
def incident_page(
    reference: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _incident_page(request, actor, session, reference)


def _incident_page(request, actor, session, reference, *, errors=None, form=None, status_code=200):
    incident = service.get_for(session, actor, reference)
    result, problem = None, None
    responder = actor.has_role(Role.responder)
    if responder and incident.status.value == "open":
        try:
            result = service.households(
                session,
                request.app.state.settings,
                actor,
                incident,
                via="web",
                cache=service.draw_cache(request.app),
            )
        except service.IncidentError as error:
            problem = str(error)
    grant = service.active_break_glass(session, actor, incident) if responder else None
    response = render(
        request,
        "incidents/show.html",
        status_code=status_code,
        active_nav="incidents",
        incident=incident,
        area=service.area_of(incident),
        result=result,
        problem=problem,
        responder=responder,
        grant=grant,
        labels=service.LABEL,
        short=service.SHORT,
        map_data=_map_data(incident, result, map_options(request)),
        errors=errors or {},
        form=form or {},
        opened_by=service.membership_label(session, incident.opened_by_id),
    )
    return allow_tiles(request, response)


@router.get("/incidents/{reference}/print")
def print_page(
    reference: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.get_for(session, actor, reference)
    result = service.households(
        session,
        request.app.state.settings,
        actor,
        incident,
        via="print",
        cache=service.draw_cache(request.app),
    )
    return render(
        request,
        "incidents/print.html",
        active_nav="incidents",
        incident=incident,
        result=result,
        labels=service.LABEL,
    )


@router.get("/incidents/{reference}/households.{fmt}")
def export(
    reference: str,
    fmt: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    if fmt not in ("csv", "geojson"):
        raise HTTPException(404, "Exports are households.csv or households.geojson.")
    incident = service.get_for(session, actor, reference)
    result = service.households(
        session,
        request.app.state.settings,
        actor,
        incident,
        via=f"web-{fmt}",
        cache=service.draw_cache(request.app),
    )
    service.record_export(session, actor, incident, result, fmt)
    disposition = {"Content-Disposition": f'attachment; filename="{reference}-households.{fmt}"'}
    if fmt == "csv":
        return Response(
            service.export_csv(result), media_type="text/csv; charset=utf-8", headers=disposition
        )
    return Response(
        json.dumps(service.export_geojson(result)),
        media_type="application/geo+json",
        headers=disposition,
    )


@router.post("/incidents/{reference}/break-glass")
def break_glass(
    reference: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.get_for(session, actor, reference)
    hours = service.BREAK_GLASS_HOURS
    with contextlib.suppress(ValueError):
        hours = float(str(form.get("hours") or hours))
    try:
        service.break_glass(session, actor, incident, str(form.get("reason", "")), hours)
    except service.IncidentError as error:
        field = "reason" if error.field in (None, "reason") else error.field
        return _incident_page(
            request, actor, session, reference,
            errors={field: str(error)}, form=dict(form), status_code=error.status,
        )  # fmt: skip
    target = str(form.get("next", "")) or f"/incidents/{reference}"
    if not target.startswith(f"/incidents/{reference}"):
        target = f"/incidents/{reference}"
    return RedirectResponse(target, status_code=303)


@router.get("/incidents/{reference}/households/{key}")
def household_page(
    reference: str,
    key: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.get_for(session, actor, reference)
    try:
        found = service.people_at(
            session,
            request.app.state.settings,
            actor,
            incident,
            key,
            cache=service.draw_cache(request.app),
        )
    except service.IncidentError as error:
        if error.status == 403 and service.active_break_glass(session, actor, incident) is None:
            return RedirectResponse(
                f"/incidents/{reference}?break_glass_for={key}#break-glass", status_code=303
            )
        raise
    return render(
        request,
        "incidents/household.html",
        active_nav="incidents",
        incident=incident,
        household=found["household"],
        people=found["people"],
        grant=found["break_glass"],
        needs_break_glass=found["needs_break_glass"],
    )


@router.post("/incidents/{reference}/area")
def change_area(
    reference: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.get_for(session, actor, reference)
    errors: dict[str, str] = {}
    area = _area_from_form(form, errors)
    if area is not None:
        try:
            service.update_area(session, actor, incident, area, str(form.get("note", "")))
        except service.IncidentError as error:
            errors.update(field_errors(error, "radius_m"))
    if errors:
        shown = {k: v for k, v in form.items() if isinstance(v, str)}
        return _incident_page(
            request, actor, session, reference, errors=errors, form=shown, status_code=400
        )
    return RedirectResponse(f"/incidents/{reference}", status_code=303)


@router.post("/incidents/{reference}/close")
def close(
    reference: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.get_for(session, actor, reference)
    try:
        service.close_incident(session, actor, incident, str(form.get("note", "")))
    except service.IncidentError as error:
        return _incident_page(
            request, actor, session, reference,
            errors={"note": str(error)}, form=dict(form), status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/incidents/{reference}/log", status_code=303)


@router.get("/incidents/{reference}/log")
def log_page(
    reference: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    incident = service.get_for(session, actor, reference)
    entries = [
        {"at": e.at, "who": service.membership_label(session, e.membership_id), "action": e.action,
         "summary": e.summary}
        for e in service.events(session, incident)
    ]  # fmt: skip
    return render(
        request, "incidents/log.html", active_nav="incidents", incident=incident, entries=entries
    )
