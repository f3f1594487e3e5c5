"""Works over HTTP: the programme your agreements let you see, its clashes, opportunities and
Section 58 restrictions (JSON or CSV), and publishing your own programme (a CSV or GeoJSON body).
Every read decides, executes and audits per dataset (`service.programme`)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import SessionDep
from civicshare.works import output, service
from civicshare.works.models import Clash, Opportunity, Restriction, Work

router = ApiRouter(prefix="/api/works", tags=["works"])
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class WorkOut(BaseModel):
    work_reference_number: str
    promoter: str
    promoter_partner: str
    usrn: int | None
    path_id: str | None
    street_name: str | None
    works_category: str
    activity_type: str
    traffic_management_type: str
    proposed_start_date: date
    proposed_end_date: date
    works_location_wkt: str
    excavation: bool
    traffic_sensitive: bool
    closure: bool
    diversion_route_wkt: str | None


class ClashOut(BaseModel):
    work_reference_number_a: str
    work_reference_number_b: str
    kind: str
    severity: str
    overlap_start: date
    overlap_end: date
    distance_m: float
    reasons: list[str]


class OpportunityOut(BaseModel):
    usrn: int
    street_name: str | None
    work_reference_number_a: str
    work_reference_number_b: str
    gap_days: int
    suggested_start: date
    suggested_end: date


class RestrictionOut(BaseModel):
    work_reference_number: str
    usrn: int
    street_name: str | None
    proposed_start_date: date
    protecting_work_reference_number: str
    protected_from: date
    protected_until: date


class WithheldOut(BaseModel):
    provider: str
    dataset: str
    reason: str


class ProgrammeOut(BaseModel):
    works: list[WorkOut]
    clashes: list[ClashOut]
    opportunities: list[OpportunityOut]
    restrictions: list[RestrictionOut]
    withheld: list[WithheldOut]


class RowErrorOut(BaseModel):
    where: str
    field: str
    message: str


class PublishedOut(BaseModel):
    dataset: str
    snapshot_version: int | None
    accepted: int
    errors: list[RowErrorOut]
    new_clashes: list[ClashOut]


def work_out(read: service.Programme, work: Work) -> WorkOut:
    return WorkOut(
        **{name: getattr(work, name) for name in WorkOut.model_fields if hasattr(work, name)},
        promoter_partner=read.promoter_of.get(work.work_reference_number, ""),
        works_location_wkt=work.location.wkt,
        diversion_route_wkt=work.diversion_route.wkt if work.diversion_route else None,
    )


def clash_out(clash: Clash) -> ClashOut:
    return ClashOut(
        **{n: getattr(clash, n) for n in ClashOut.model_fields if n != "reasons"},
        reasons=list(clash.reasons),
    )


def _fields(item: Opportunity | Restriction, model: type[BaseModel]) -> BaseModel:
    return model(**{name: getattr(item, name) for name in model.model_fields})


@router.get(
    "",
    scope="works:read",
    response_model=ProgrammeOut,
    summary="The works programme your agreements let you see, co-ordinated",
)
def programme(request: Request, actor: ActorDep, session: SessionDep):
    read = service.programme(session, request.app.state.settings, actor, via="api")
    found = read.coordination
    return ProgrammeOut(
        works=[work_out(read, w) for w in found.works],
        clashes=[clash_out(c) for c in found.clashes],
        opportunities=[_fields(o, OpportunityOut) for o in found.opportunities],
        restrictions=[_fields(r, RestrictionOut) for r in found.restrictions],
        withheld=[WithheldOut(**vars(w)) for w in read.withheld],
    )


@router.get(
    "/clashes.csv",
    scope="works:read",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The clashes as CSV (the columns of `civicshare works clashes`' clashes.csv)",
)
def clashes_csv(request: Request, actor: ActorDep, session: SessionDep):
    read = service.programme(session, request.app.state.settings, actor, via="api")
    return Response(output.csv_text(read.coordination, "clashes.csv"), media_type="text/csv")


@router.post(
    "",
    scope="works:write",
    response_model=PublishedOut,
    status_code=201,
    summary="Publish your programme (the request body: a CSV or GeoJSON file)",
    description="Send the file as the raw body; `filename` ending .geojson reads it as GeoJSON. "
    "Valid rows become your works dataset's next snapshot; rows in error are listed by row "
    "and field and left out. 422 when no row is valid (nothing changes).",
)
async def publish(
    *,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
    filename: str = Query("works.csv", description="The file's name: .csv or .geojson."),
    dataset: str | None = Query(None, description="Your works dataset, if you have several."),
):
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise service.WorksError("The file is over 20 MB.", field="body", status=413)
    suffix = ".geojson" if filename.lower().endswith((".geojson", ".json")) else ".csv"

    def run() -> service.Published:
        with tempfile.TemporaryDirectory() as staging:
            path = Path(staging) / f"upload{suffix}"
            path.write_bytes(bytes(body))
            published = service.publish(
                session,
                request.app.state.settings,
                actor,
                path,
                dataset=dataset,
                file_name=filename,
                via="api",
            )
            session.commit()
            return published

    published = await run_in_threadpool(run)
    return PublishedOut(
        dataset=published.dataset,
        snapshot_version=published.snapshot_version,
        accepted=published.accepted,
        errors=[RowErrorOut(**vars(e)) for e in published.errors],
        new_clashes=[clash_out(c) for c in published.new_clashes],
    )
