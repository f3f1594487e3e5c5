"""An agreement's document, as a page and as a PDF."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from civicshare.accounts.api import ActorDep
from civicshare.agreements import documents, service
from civicshare.db import SessionDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


def _document_version(session, actor, reference, version):
    agreement = service.get_for(session, actor, reference)
    return (
        service.version_for(session, actor, reference, version)
        if version
        else service.headline(agreement)
    )


@router.get("/agreements/{reference}/document")
def document_page(
    *,
    reference: str,
    request: Request,
    version: int | None = None,
    actor: ActorDep,
    session: SessionDep,
):
    shown = _document_version(session, actor, reference, version)
    return render(
        request,
        "agreements/document.html",
        active_nav="agreements",
        version=shown,
        sections=documents.document_sections(shown),
        today=date.today(),
    )


@router.get("/agreements/{reference}/document.pdf")
def document_pdf(
    *,
    reference: str,
    version: int | None = None,
    actor: ActorDep,
    session: SessionDep,
):
    shown = _document_version(session, actor, reference, version)
    name = f"{shown.reference}-v{shown.number}.pdf"
    return Response(
        documents.agreement_pdf(shown),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
