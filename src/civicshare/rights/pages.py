"""Residents' rights in the browser. Public, without sign-in: the register in plain English
(/register/agreements/REF, as CSV at /register/items.csv), each agreement's document in force,
the charter, and how each partner uses residents' information (/register/partners/KEY).
For IG leads: objections (/rights/objections)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from civicshare.accounts.api import ActorDep, MaybeActorDep
from civicshare.agreements import documents
from civicshare.db import RowId, SessionDep
from civicshare.partners import service as partners
from civicshare.rights import service
from civicshare.web.forms import FormDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/register/agreements/{reference}")
def agreement_page(reference: str, request: Request, actor: MaybeActorDep, session: SessionDep):
    version = service.public_version(session, reference, date.today())
    return render(
        request,
        "rights/agreement.html",
        active_nav="register",
        entry=service.register_entry(session, version),
    )


@router.get("/register/agreements/{reference}/document")
def document_page(reference: str, request: Request, actor: MaybeActorDep, session: SessionDep):
    version = service.public_version(session, reference, date.today())
    return render(
        request,
        "rights/document.html",
        active_nav="register",
        version=version,
        sections=documents.document_sections(version),
        today=date.today(),
    )


@router.get("/register/agreements/{reference}/document.pdf")
def document_pdf(reference: str, session: SessionDep):
    version = service.public_version(session, reference, date.today())
    return Response(
        documents.agreement_pdf(version),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{version.reference}.pdf"'},
    )


@router.get("/register/items.csv")
def register_items_csv(session: SessionDep):
    return Response(
        service.register_csv(service.register(session, date.today())),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="register-data-items.csv"'},
    )


@router.get("/register/charter")
def charter_page(request: Request, actor: MaybeActorDep, session: SessionDep):
    return render(
        request,
        "rights/charter.html",
        active_nav="register",
        charter=partners.current_charter(session),
    )


@router.get("/register/partners")
def partners_page(request: Request, actor: MaybeActorDep, session: SessionDep):
    return render(
        request,
        "rights/partners.html",
        active_nav="register",
        contacts=[service.dpo_contact(p) for p in partners.list_partners(session)],
    )


@router.get("/register/partners/{key}")
def partner_page(key: str, request: Request, actor: MaybeActorDep, session: SessionDep):
    return render(
        request,
        "rights/partner.html",
        active_nav="register",
        uses=service.partner_uses(session, key, date.today()),
    )


# -- objections, for IG leads ----------------------------------------------------------------


def _objections_page(request, actor, session, *, errors=None, form=None, status_code=200):
    service._require_ig_lead(actor, "record objections")
    return render(
        request,
        "rights/objections.html",
        status_code=status_code,
        objections=service.objections(session),
        purposes=service.known_purposes(session),
        errors=errors or {},
        form=form or {},
    )


@router.get("/rights/objections")
def objections_page(request: Request, actor: ActorDep, session: SessionDep):
    return _objections_page(request, actor, session)


@router.post("/rights/objections")
def record_objection(request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    values = {k: str(form.get(k, "")).strip() for k in ("purpose", "reason", "source", "record_id")}
    try:
        service.record_objection(
            session,
            actor,
            purpose=values["purpose"],
            reason=values["reason"],
            source=values["source"] or None,
            record_id=values["record_id"] or None,
            via="web",
        )
    except service.RightsError as error:
        if error.status == 403:
            raise
        return _objections_page(
            request,
            actor,
            session,
            errors={error.field or "purpose": error.message},
            form=values,
            status_code=422,
        )
    return RedirectResponse("/rights/objections?recorded=1", status_code=303)


@router.post("/rights/objections/{objection_id}/withdraw")
def withdraw_objection(
    objection_id: RowId, request: Request, actor: ActorDep, session: SessionDep, form: FormDep
):
    reason = str(form.get("reason", "")).strip() or "Withdrawn by the person"
    service.withdraw_objection(session, actor, objection_id, reason=reason, via="web")
    return RedirectResponse("/rights/objections", status_code=303)
