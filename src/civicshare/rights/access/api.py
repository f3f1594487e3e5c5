"""Subject access, rectification and erasure over HTTP: the rights desk opens and answers
requests (rights:write, rights:read); a recipient confirms its correction task (rights:write)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import RowId, SessionDep
from civicshare.rights.access import corrections, matching, service

router = ApiRouter(prefix="/api/rights/access", tags=["rights"])


class DetailsIn(BaseModel):
    given_name: str = Field(max_length=200)
    surname: str = Field(max_length=200)
    date_of_birth: str = Field(default="", max_length=20, description="ISO, like 1968-08-09")
    address: str = Field(default="", max_length=500)
    postcode: str = Field(default="", max_length=12)
    nhs_number: str = Field(default="", max_length=20)
    previous_surname: str = Field(default="", max_length=200)
    previous_address: str = Field(default="", max_length=500)
    previous_postcode: str = Field(default="", max_length=12)
    received_on: date | None = None


class ExtendIn(BaseModel):
    reason: str = Field(max_length=1000, description="No names or NHS numbers.")


class CorrectionIn(BaseModel):
    source: str = Field(max_length=200, description="partner/dataset")
    record_id: str = Field(max_length=200)
    kind: str = Field(description="rectify or erase")
    reason: str = Field(max_length=1000)
    column: str | None = Field(default=None, max_length=100)
    value: str | None = Field(default=None, max_length=1000)
    request: str | None = Field(default=None, max_length=16, description="SAR reference")


class ConfirmIn(BaseModel):
    outcome: str = Field(description=f"One of: {', '.join(corrections.OUTCOMES)}")
    note: str = Field(default="", max_length=1000)


class CountsOut(BaseModel):
    exported: int
    uncertain: int
    excluded: int


class RecordOut(BaseModel):
    id: int
    source: str
    record_id: str
    match: str = Field(description="confident, uncertain, confirmed or excluded")
    how: str


class RequestOut(BaseModel):
    reference: str
    status: str
    received_on: str
    due_on: str
    extended: bool
    extension_reason: str
    overdue: bool
    counts: CountsOut
    records: list[RecordOut]


class TaskOut(BaseModel):
    id: int
    recipient: str
    receipts: list[int]
    confirmed: bool
    outcome: str
    reminders: int


class CorrectionOut(BaseModel):
    reference: str
    kind: str
    source: str
    record_id: str
    column: str | None
    reason: str
    status: str
    snapshot_version: int
    snapshot_check: str
    checked_version: int | None
    tasks: list[TaskOut]


class MyTaskOut(CorrectionOut):
    task: int


def _officer(request: Request, actor) -> Any:
    settings = request.app.state.settings
    service.require_rights_officer(actor, settings)
    return settings


@router.post("/requests", scope="rights:write", status_code=201, response_model=RequestOut)
def open_request(body: DetailsIn, request: Request, actor: ActorDep, session: SessionDep):
    settings = _officer(request, actor)
    fields = body.model_dump(exclude={"received_on"})
    opened = service.open_request(
        session, settings, actor, matching.details(**fields), body.received_on
    )
    return service.as_dict(opened)


@router.get("/requests", scope="rights:read", response_model=list[RequestOut])
def list_requests(request: Request, actor: ActorDep, session: SessionDep):
    _officer(request, actor)
    return [service.as_dict(r) for r in service.list_requests(session)]


@router.get("/requests/{reference}", scope="rights:read", response_model=RequestOut)
def show_request(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    _officer(request, actor)
    return service.as_dict(service.get_request(session, reference))


@router.post(
    "/requests/{reference}/records/{record}/{verdict}",
    scope="rights:write",
    response_model=RequestOut,
    summary="Confirm (exported) or exclude an uncertain candidate",
)
def decide_record(
    reference: str, record: RowId, verdict: str, request: Request, actor: ActorDep,
    session: SessionDep,
):  # fmt: skip
    _officer(request, actor)
    if verdict not in ("confirm", "exclude"):
        raise service.AccessError("Say confirm or exclude.", field="verdict", status=404)
    found = service.get_request(session, reference)
    service.decide_record(session, actor, found, record, confirm=verdict == "confirm")
    return service.as_dict(found)


@router.post("/requests/{reference}/extend", scope="rights:write", response_model=RequestOut)
def extend(reference: str, body: ExtendIn, request: Request, actor: ActorDep, session: SessionDep):
    _officer(request, actor)
    found = service.get_request(session, reference)
    return service.as_dict(service.extend(session, actor, found, body.reason))


@router.get(
    "/requests/{reference}/export",
    scope="rights:write",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
    summary="The export: a ZIP of CSVs (one per dataset), the sharing history and a summary",
)
def export(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    settings = _officer(request, actor)
    made = service.export(session, settings, actor, service.get_request(session, reference))
    return Response(
        made.data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{made.file_name}"'},
    )


@router.post("/corrections", scope="rights:write", status_code=201, response_model=CorrectionOut)
def correct(body: CorrectionIn, request: Request, actor: ActorDep, session: SessionDep):
    settings = _officer(request, actor)
    linked = service.get_request(session, body.request) if body.request else None
    made = corrections.decide_correction(
        session, settings, actor, source=body.source, record_id=body.record_id, kind=body.kind,
        reason=body.reason, column=body.column, value=body.value, access_request=linked,
    )  # fmt: skip
    return corrections.as_dict(made)


@router.get("/corrections/{reference}", scope="rights:read", response_model=CorrectionOut)
def show_correction(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    _officer(request, actor)
    return corrections.as_dict(corrections.get_correction(session, reference))


@router.post("/corrections/{reference}/check", scope="rights:write", response_model=CorrectionOut)
def check(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    settings = _officer(request, actor)
    found = corrections.get_correction(session, reference)
    corrections.check_snapshot(session, settings, actor, found)
    return corrections.as_dict(found)


@router.get("/tasks", scope="rights:read", response_model=list[MyTaskOut])
def my_tasks(actor: ActorDep, session: SessionDep):
    """Your organisation's correction tasks."""
    return [
        {**corrections.as_dict(t.correction), "task": t.id}
        for t in corrections.tasks_for(session, actor.partner_key)
    ]


@router.post("/tasks/{task}/confirm", scope="rights:write", response_model=CorrectionOut)
def confirm(task: RowId, body: ConfirmIn, actor: ActorDep, session: SessionDep):
    found = corrections.get_task(session, task)
    corrections.confirm_task(session, actor, found, body.outcome, body.note)
    return corrections.as_dict(found.correction)
