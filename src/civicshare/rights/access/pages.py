"""Subject access in the browser: the rights desk's requests (/rights/access), one request with
its records, candidates and export, corrections with their recipients' progress, and each
partner's correction tasks (/rights/access/tasks)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from civicshare.accounts.api import ActorDep
from civicshare.db import RowId, SessionDep
from civicshare.rights.access import corrections, matching, service
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)
DETAIL_FIELDS = (
    "given_name", "surname", "date_of_birth", "nhs_number", "postcode", "address",
    "previous_surname", "previous_address", "previous_postcode",
)  # fmt: skip


def _requests_page(request, actor, session, *, errors=None, values=None, status_code=200):
    service.require_rights_officer(actor, request.app.state.settings)
    return render(
        request,
        "rights/access/requests.html",
        status_code=status_code,
        active_nav="rights",
        errors=errors or {},
        values=values or {},
        requests=[service.as_dict(r) for r in service.list_requests(session)],
        corrections=[corrections.as_dict(c) for c in corrections.list_corrections(session)],
    )


@router.get("/rights/access")
def requests_page(request: Request, actor: ActorDep, session: SessionDep):
    return _requests_page(request, actor, session)


@router.post("/rights/access")
def open_request(request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    values = {name: str(form.get(name) or "") for name in (*DETAIL_FIELDS, "received_on")}
    try:
        person = matching.details(**{name: values[name] for name in DETAIL_FIELDS})
        try:
            received = date.fromisoformat(values["received_on"]) if values["received_on"] else None
        except ValueError:
            raise service.AccessError(
                "The date received is not a date like 2026-12-01.", field="received_on"
            ) from None
        opened = service.open_request(session, request.app.state.settings, actor, person, received)
    except (matching.DetailsError, service.AccessError) as error:
        session.rollback()
        return _requests_page(
            request, actor, session, errors=field_errors(error, "surname"), values=values,
            status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/rights/access/requests/{opened.reference}", status_code=303)


def _request_page(request, actor, session, reference, *, errors=None, status_code=200):
    settings = request.app.state.settings
    service.require_rights_officer(actor, settings)
    found = service.get_request(session, reference)
    data = service.as_dict(found)
    sources = {r["source"] for r in data["records"] if r["match"] in ("confident", "confirmed")}
    return render(
        request,
        "rights/access/request.html",
        status_code=status_code,
        active_nav="rights",
        errors=errors or {},
        request_data=data,
        history=service.sharing_history(session, sources),
    )


@router.get("/rights/access/requests/{reference}")
def request_page(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    return _request_page(request, actor, session, reference)


@router.post("/rights/access/requests/{reference}/records/{record}")
def decide_record(
    reference: str, record: RowId, request: Request, actor: ActorDep, session: SessionDep,
    form: FormDep,
):  # fmt: skip
    service.require_rights_officer(actor, request.app.state.settings)
    found = service.get_request(session, reference)
    confirm = str(form.get("verdict") or "") == "confirm"
    service.decide_record(session, actor, found, record, confirm=confirm)
    return RedirectResponse(f"/rights/access/requests/{reference}#record-{record}", status_code=303)


@router.post("/rights/access/requests/{reference}/extend")
def extend(reference: str, request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    service.require_rights_officer(actor, request.app.state.settings)
    try:
        service.extend(
            session, actor, service.get_request(session, reference), str(form.get("reason") or "")
        )
    except service.AccessError as error:
        session.rollback()
        return _request_page(
            request, actor, session, reference, errors=field_errors(error, "reason"),
            status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/rights/access/requests/{reference}", status_code=303)


@router.post("/rights/access/requests/{reference}/complete")
def complete(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    service.require_rights_officer(actor, request.app.state.settings)
    try:
        service.complete(session, actor, service.get_request(session, reference))
    except service.AccessError as error:
        session.rollback()
        return _request_page(
            request, actor, session, reference, errors={"records": str(error)},
            status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/rights/access/requests/{reference}", status_code=303)


@router.get("/rights/access/requests/{reference}/export.zip")
def export(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    settings = request.app.state.settings
    made = service.export(session, settings, actor, service.get_request(session, reference))
    return Response(
        made.data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{made.file_name}"'},
    )


@router.get("/rights/access/requests/{reference}/summary.html")
def export_summary(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    """The export's readable summary alone (made, and audited, as the export is)."""
    settings = request.app.state.settings
    made = service.export(session, settings, actor, service.get_request(session, reference))
    with zipfile.ZipFile(io.BytesIO(made.data)) as archive:
        summary = archive.read("summary.html")
    return Response(
        summary,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{reference.upper()}-summary.html"'},
    )


# -- corrections and tasks --------------------------------------------------------------------


@router.post("/rights/access/requests/{reference}/corrections")
def correct(reference: str, request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    settings = request.app.state.settings
    service.require_rights_officer(actor, settings)
    found = service.get_request(session, reference)
    record = next((r for r in found.records if str(r.id) == str(form.get("record"))), None)
    try:
        if record is None:
            raise service.AccessError("Choose a record of this request.", field="record")
        made = corrections.decide_correction(
            session, settings, actor, source=record.source, record_id=record.record_id,
            kind=str(form.get("kind") or ""), reason=str(form.get("reason") or ""),
            column=str(form.get("column") or "") or None, value=str(form.get("value") or ""),
            access_request=found,
        )  # fmt: skip
    except service.AccessError as error:
        session.rollback()
        return _request_page(
            request, actor, session, reference, errors=field_errors(error, "reason"),
            status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/rights/access/corrections/{made.reference}", status_code=303)


@router.get("/rights/access/corrections/{reference}")
def correction_page(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    service.require_rights_officer(actor, request.app.state.settings)
    return render(
        request,
        "rights/access/correction.html",
        active_nav="rights",
        correction=corrections.as_dict(corrections.get_correction(session, reference)),
    )


@router.post("/rights/access/corrections/{reference}/check")
def check(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    found = corrections.get_correction(session, reference)
    corrections.check_snapshot(session, request.app.state.settings, actor, found)
    return RedirectResponse(f"/rights/access/corrections/{reference}", status_code=303)


@router.get("/rights/access/tasks")
def tasks_page(request: Request, actor: ActorDep, session: SessionDep):
    rows = [
        {"task": t, "correction": corrections.as_dict(t.correction)}
        for t in corrections.tasks_for(session, actor.partner_key)
    ]
    return render(
        request,
        "rights/access/tasks.html",
        active_nav="rights",
        rows=rows,
        outcomes=corrections.OUTCOMES,
    )


@router.get("/rights/access/tasks/{task}")
def task_page(task: RowId, request: Request, actor: ActorDep, session: SessionDep):
    return RedirectResponse(f"/rights/access/tasks#task-{task}", status_code=303)


@router.post("/rights/access/tasks/{task}/confirm")
def confirm_task(task: RowId, actor: ActorDep, session: SessionDep, form: FormDep):
    found = corrections.get_task(session, task)
    corrections.confirm_task(
        session, actor, found, str(form.get("outcome") or ""), str(form.get("note") or "")
    )
    return RedirectResponse(f"/rights/access/tasks#task-{task}", status_code=303)
