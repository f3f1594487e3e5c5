"""The partnership in the browser: partners, their details and members, the charter."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from civicshare.accounts.api import current_actor
from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.db import request_session
from civicshare.partners import service
from civicshare.partners.api import may_manage
from civicshare.partners.models import Partner, Role
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/partners")
def partners_page(
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    charter = service.current_charter(session)
    states = {s.partner.id: s for s in service.endorsement_states(session)}
    return render(
        request,
        "partners/list.html",
        active_nav="partners",
        partners=service.list_partners(session),
        states=states,
        charter=charter,
    )


@router.get("/partners/{key}")
def partner_page(
    key: str,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    partner = service.get_by_key(session, key)
    if partner is None:
        raise HTTPException(404, f"There is no partner with the key {key!r}.")
    manage = may_manage(request, actor, partner)
    return render(
        request,
        "partners/detail.html",
        active_nav="partners",
        partner=partner,
        members=service.memberships_of_partner(session, partner.id) if manage else None,
        history=audit.history(session, "partner", partner.key),
    )


@router.get("/charter")
def charter_page(
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    return _charter_page(request, actor, session)


def _charter_page(request, actor, session, *, errors=None, form=None, status_code=200):
    charter = service.current_charter(session)
    states = service.endorsement_states(session)
    mine = next((s for s in states if s.partner.id == actor.partner_id), None)
    return render(
        request,
        "partners/charter.html",
        status_code=status_code,
        active_nav="partners",
        charter=charter,
        versions=service.charter_versions(session),
        states=states,
        can_endorse=bool(
            charter and mine and not mine.current and actor.has_role(Role.admin, Role.ig_lead)
        ),
        errors=errors or {},
        form=form or {},
        today=date.today(),
    )


@router.post("/charter/endorse")
def endorse(
    request: Request,
    signatory_name: str = Form(""),
    signatory_role: str = Form(""),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    form = {"signatory_name": signatory_name, "signatory_role": signatory_role}
    errors = {}
    if not signatory_name.strip():
        errors["signatory_name"] = "Enter the name of the person who signed for your organisation"
    if not signatory_role.strip():
        errors["signatory_role"] = "Enter their role, for example Chief Executive"
    if not actor.has_role(Role.admin, Role.ig_lead):
        raise HTTPException(403, "Only an admin or IG lead records their partner's endorsement.")
    charter = service.current_charter(session)
    if charter is None:
        raise HTTPException(409, "No charter has been published yet.")
    if errors:
        return _charter_page(request, actor, session, errors=errors, form=form, status_code=400)
    partner = session.get(Partner, actor.partner_id)
    try:
        service.endorse_charter(
            session,
            partner,
            charter,
            signatory_name=signatory_name,
            signatory_role=signatory_role,
            on=date.today(),
            recorded_by_membership_id=actor.membership_id,
        )
    except ValueError as error:
        raise HTTPException(409, str(error)) from None
    audit.record(
        session,
        actor,
        "charter_endorsed",
        "charter",
        charter.version,
        details={"partner": partner.key, "signatory": signatory_role},
    )
    return RedirectResponse("/charter", status_code=303)
