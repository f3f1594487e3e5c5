"""The list of agreements, a new draft, reviews due and the record of processing exports."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from civicshare.accounts.api import ActorDep
from civicshare.agreements import documents, library, service
from civicshare.agreements.models import (
    Status,
)
from civicshare.agreements.pages.common import url_of
from civicshare.db import SessionDep
from civicshare.partners.models import Role
from civicshare.web.forms import FormDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/agreements")
def list_page(
    *,
    request: Request,
    status: str = "",
    actor: ActorDep,
    session: SessionDep,
):
    chosen = status if status in Status.__members__ else ""
    rows = service.list_for(session, actor, chosen or None)
    return render(
        request,
        "agreements/list.html",
        active_nav="agreements",
        rows=rows,
        status=chosen,
        statuses=list(Status),
        can_draft=actor.has_role(Role.ig_lead),
    )


@router.get("/agreements/new")
def new_form(request: Request, actor: ActorDep):
    return _new_page(request, actor)


def _new_page(request, actor, *, errors=None, title="", template="", status_code=200):
    if not actor.has_role(Role.ig_lead):
        raise HTTPException(
            403,
            f"Acting for {actor.partner_name}, you are not an IG lead; IG leads draft agreements.",
        )
    return render(
        request,
        "agreements/new.html",
        status_code=status_code,
        active_nav="agreements",
        templates=list(library.TEMPLATES.values()),
        errors=errors or {},
        title=title,
        chosen=template,
    )


@router.post("/agreements/new")
def new_submit(
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    title = str(form.get("title", "")).strip()
    template = str(form.get("template", "")).strip()
    errors = {}
    if not title:
        errors["title"] = "Enter a title for the agreement"
    if not template:
        errors["template"] = "Choose a template, or start from a blank agreement"
    elif template != "blank" and template not in library.TEMPLATES:
        errors["template"] = "Choose one of the templates listed"
    if errors:
        return _new_page(
            request, actor, errors=errors, title=title, template=template, status_code=400
        )
    version = service.create_draft(
        session,
        actor,
        title=title,
        template_key=None if template == "blank" else template,
    )
    return RedirectResponse(url_of(version), status_code=303)


@router.get("/agreements/review-due")
def review_due_page(
    *,
    request: Request,
    within: int = 90,
    actor: ActorDep,
    session: SessionDep,
):
    within = max(0, min(within, 3650))
    versions = [
        v
        for v in service.review_due(session, date.today(), within)
        if service.may_view(actor, v.agreement)
    ]
    return render(
        request,
        "agreements/review_due.html",
        active_nav="agreements",
        versions=versions,
        within=within,
        today=date.today(),
    )


ROPA_FORMATS = {
    "csv": (documents.ropa_csv, "text/csv; charset=utf-8"),
    "xlsx": (
        documents.ropa_xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
}


@router.get("/agreements/ropa.{extension}")
def ropa(
    *,
    extension: str,
    mine: bool = False,
    actor: ActorDep,
    session: SessionDep,
):
    """The Article 30 record of processing, as CSV or as a spreadsheet."""
    if extension not in ROPA_FORMATS:
        raise HTTPException(404, "The record of processing comes as .csv or .xlsx.")
    write, media_type = ROPA_FORMATS[extension]
    rows = service.ropa_rows(session, actor.partner_id if mine else None, viewer=actor)
    return Response(
        write(rows),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="record-of-processing.{extension}"'},
    )
