"""Works in the browser: the works map and list, a street's timeline, the clash list, publishing
a programme, and the public roadworks map near a postcode (no sign-in). Every page reads the
programme from `service` (each dataset decided, executed and audited)."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from civicshare.accounts.api import ActorDep
from civicshare.db import SessionDep
from civicshare.maps import reference
from civicshare.maps.layers import feature_collection, overlay_feature
from civicshare.maps.pages import allow_tiles, map_options
from civicshare.maps.projection import to_wgs84
from civicshare.partners.models import Role
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render
from civicshare.works import output, service
from civicshare.works.files import WorksFileError
from civicshare.works.models import Work
from civicshare.works.service import Programme

router = APIRouter(include_in_schema=False)
SEVERITY_RANK = {"high": 1, "medium": 2, "low": 3}
WINDOW_DAYS = 90
PUBLIC_RADIUS_M = 1000
PUBLIC_DAYS = 180
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


COLOURS = {"high": "#d4351c", "medium": "#f47738", "low": "#ffdd00"}


def feature(read: Programme, work: Work, *, public: bool = False) -> dict:
    """A work as a map feature (WGS84), titled and coloured by its worst clash."""
    worst = None if public else read.worst_clash.get(work.work_reference_number)
    dates = f"{work.proposed_start_date:%-d %b %Y} to {work.proposed_end_date:%-d %b %Y}"
    label = f"{work.activity_type}, {work.street}"
    linked = not public and work.usrn is not None
    return overlay_feature(
        work.work_reference_number,
        work.location,
        title=f"{work.work_reference_number}: {label}",
        label=work.work_reference_number,
        kind=worst or work.works_category,
        rank=SEVERITY_RANK.get(worst, 4),
        popup=[
            f"{read.promoter_name(work.work_reference_number) or work.promoter}: {label}",
            dates + (", closed" if work.closure else ""),
        ]
        + ([f"Clash: {worst}"] if worst else []),
        colour=COLOURS.get(worst, "#1d70b8"),
        href=f"/works/streets/{work.usrn}" if linked else None,
        link_text="The street's works" if linked else None,
    )


def map_config(request: Request) -> dict:
    return {**map_options(request), "noun": ["work", "works"]}


def collection(read: Programme, works: list[Work], *, public: bool = False) -> dict:
    return feature_collection([feature(read, w, public=public) for w in works])


def today() -> date:
    """Today, for the pages (a test sets another day)."""
    return date.today()


def _window(start: date | None, end: date | None) -> tuple[date, date]:
    start = start or today()
    return start, end or start + timedelta(days=WINDOW_DAYS)


def in_window(read: Programme, start: date, end: date, promoter: str = "") -> list[Work]:
    found = [
        w
        for w in read.works
        if w.proposed_start_date <= end
        and w.proposed_end_date >= start
        and (not promoter or read.promoter_of.get(w.work_reference_number) == promoter)
    ]
    return sorted(found, key=lambda w: (w.proposed_start_date, w.work_reference_number))


@router.get("/works")
def works_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    promoter: str = "",
):
    settings = request.app.state.settings
    start, end = _window(start, end)
    read = service.programme(session, settings, actor)
    shown = in_window(read, start, end, promoter)
    response = render(
        request,
        "works/map.html",
        active_nav="works",
        read=read,
        works=shown,
        start=start,
        end=end,
        promoter=promoter,
        features=collection(read, shown),
        map_options=map_config(request),
        worst=read.worst_clash,
        may_publish=actor.has_role(Role.data_provider, Role.admin),
    )
    return allow_tiles(request, response)


@router.get("/works/clashes")
def clashes_page(request: Request, actor: ActorDep, session: SessionDep):
    read = service.programme(session, request.app.state.settings, actor)
    clashes = sorted(
        read.coordination.clashes,
        key=lambda c: (SEVERITY_RANK[c.severity], c.overlap_start, c.pair),
    )
    return render(request, "works/clashes.html", active_nav="works", read=read, clashes=clashes)


@router.get("/works/{name}.csv")
def works_csv(request: Request, actor: ActorDep, session: SessionDep, name: str):
    if f"{name}.csv" not in output.TABLES:
        return Response("No such file.", status_code=404, media_type="text/plain")
    read = service.programme(session, request.app.state.settings, actor)
    return Response(
        output.csv_text(read.coordination, f"{name}.csv"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def days_of(work: Work) -> int:
    return (work.proposed_end_date - work.proposed_start_date).days + 1


def timeline(works: list[Work]) -> dict:
    """Bars for a street's works over the span they cover: x and width in percent (SVG)."""
    if not works:
        return {"bars": [], "start": None, "end": None}
    first = min(w.proposed_start_date for w in works)
    last = max(w.proposed_end_date for w in works)
    span = (last - first).days + 1
    bars = [
        {
            "work": w,
            "x": round(100 * (w.proposed_start_date - first).days / span, 2),
            "width": max(
                0.5, round(100 * ((w.proposed_end_date - w.proposed_start_date).days + 1) / span, 2)
            ),
        }
        for w in works
    ]
    return {"bars": bars, "start": first, "end": last}


@router.get("/works/streets/{usrn}")
def street_page(request: Request, actor: ActorDep, session: SessionDep, usrn: int):
    read = service.programme(session, request.app.state.settings, actor)
    works = read.on_street(usrn)
    name = next((w.street_name for w in works if w.street_name), None)
    return render(
        request,
        "works/street.html",
        active_nav="works",
        read=read,
        usrn=usrn,
        street_name=name,
        works=works,
        timeline=timeline(works),
        restrictions=[r for r in read.coordination.restrictions if r.usrn == usrn],
        opportunities=[o for o in read.coordination.opportunities if o.usrn == usrn],
        worst=read.worst_clash,
    )


def _publish_page(request, actor, *, errors=None, published=None, status_code=200):
    return render(
        request,
        "works/publish.html",
        status_code=status_code,
        active_nav="works",
        errors=errors or {},
        published=published,
        may_publish=actor.has_role(Role.data_provider, Role.admin),
    )


@router.get("/works/publish")
def publish_form(request: Request, actor: ActorDep):
    return _publish_page(request, actor)


@router.post("/works/publish")
def publish(request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    upload = form.get("file")
    if upload is None or not getattr(upload, "filename", ""):
        return _publish_page(
            request, actor, errors={"file": "Select a CSV or GeoJSON file"}, status_code=422
        )
    suffix = ".geojson" if Path(upload.filename).suffix.lower() in (".geojson", ".json") else ".csv"
    with tempfile.TemporaryDirectory() as staging:
        path = Path(staging) / f"upload{suffix}"
        with path.open("wb") as handle:
            while chunk := upload.file.read(1 << 20):
                handle.write(chunk)
                if handle.tell() > MAX_UPLOAD_BYTES:
                    return _publish_page(
                        request, actor, errors={"file": "The file is over 20 MB"}, status_code=413
                    )
        try:
            published = service.publish(
                session, request.app.state.settings, actor, path, file_name=upload.filename
            )
        except (service.WorksError, WorksFileError) as error:
            session.rollback()
            return _publish_page(
                request, actor, errors=field_errors(error, "file"), status_code=error.status
            )
    return _publish_page(request, actor, published=published)


@router.get("/roadworks")
def public_roadworks(request: Request, session: SessionDep, postcode: str = ""):
    """What is planned near a postcode, for residents: no sign-in."""
    settings = request.app.state.settings
    errors, works, centre, read = {}, [], None, None
    if postcode.strip():
        centre = reference.postcode_centre(settings, postcode)
        if centre is None:
            errors = {"postcode": f"{postcode.strip().upper()} is not a postcode in the county."}
        else:
            read = service.public_programme(session, settings)
            now = today()
            works = [
                w
                for w in service.near(read, *centre, PUBLIC_RADIUS_M, since=now)
                if w.proposed_start_date <= now + timedelta(days=PUBLIC_DAYS)
            ]
    response = render(
        request,
        "works/public.html",
        status_code=400 if errors else 200,
        active_nav="roadworks",
        postcode=reference.postcode_key(postcode) if postcode.strip() else "",
        errors=errors,
        works=works,
        read=read,
        radius_m=PUBLIC_RADIUS_M,
        days=PUBLIC_DAYS,
        features=collection(read, works, public=True) if read else None,
        context=_centre_context(centre),
        map_options=map_config(request),
    )
    return allow_tiles(request, response)


def _centre_context(centre):
    if centre is None:
        return None
    lon, lat = to_wgs84(*centre)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"radius_m": PUBLIC_RADIUS_M, "title": "Within 1 km"},
            }
        ],
    }
