"""The partnership in the browser: partners, their details and members, the charter."""

from __future__ import annotations

import re
from datetime import date

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from civicshare.accounts.api import ActorDep
from civicshare.audit import service as audit
from civicshare.db import RowId, SessionDep
from civicshare.partners import service
from civicshare.partners.api import is_partnership_admin, may_manage
from civicshare.partners.models import Membership, Partner, PartnerStatus, PartnerType, Role
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{1,63}")
# What a partner's admins may change on its page.
EDITABLE = (
    "ods_code",
    "ico_registration",
    "dpo_name",
    "dpo_email",
    "dpo_address",
    "caldicott_guardian",
    "siro",
)


@router.get("/partners")
def partners_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _list_page(request, actor, session)


def _list_page(request, actor, session, *, errors=None, form=None, status_code=200):
    return render(
        request,
        "partners/list.html",
        status_code=status_code,
        active_nav="partners",
        partners=service.list_partners(session),
        states={s.partner.id: s for s in service.endorsement_states(session)},
        charter=service.current_charter(session),
        partnership_admin=is_partnership_admin(request, actor),
        partner_types=list(PartnerType),
        errors=errors or {},
        form=form or {},
    )


@router.get("/partners/{key}")
def partner_page(
    key: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _partner_page(request, actor, session, service.require(session, key))


def _partner_page(request, actor, session, partner, *, errors=None, form=None, status_code=200):
    manage = may_manage(request, actor, partner)
    return render(
        request,
        "partners/detail.html",
        status_code=status_code,
        active_nav="partners",
        partner=partner,
        manage=manage,
        partnership_admin=is_partnership_admin(request, actor),
        members=service.memberships_of_partner(session, partner.id) if manage else None,
        history=audit.history(session, "partner", partner.key),
        roles=list(Role),
        statuses=[s for s in PartnerStatus if s != PartnerStatus.invited],
        errors=errors or {},
        form=form or {},
    )


def _require_manager(request, actor, partner) -> None:
    if not may_manage(request, actor, partner):
        raise HTTPException(403, f"Only {partner.name}'s admins manage it.")


@router.post("/partners")
def invite_partner(
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    if not is_partnership_admin(request, actor):
        raise HTTPException(403, "Only the partnership's admins invite new partners.")
    form = dict(form)
    errors = {}
    key = str(form.get("key", "")).strip().lower()
    if not KEY_PATTERN.fullmatch(key):
        errors["key"] = (
            "Enter a short key of lower-case letters, digits and hyphens, like wyre-forest-dc"
        )
    elif service.get_by_key(session, key):
        errors["key"] = f"A partner with the key {key} already exists"
    if len(str(form.get("name", "")).strip()) < 2:
        errors["name"] = "Enter the organisation's full name"
    if form.get("type") not in {t.value for t in PartnerType}:
        errors["type"] = "Select the kind of organisation"
    if errors:
        return _list_page(request, actor, session, errors=errors, form=form, status_code=400)
    service.invite(
        session,
        actor,
        key=key,
        name=str(form["name"]).strip(),
        type=form["type"],
        ods_code=str(form.get("ods_code", "")).strip() or None,
    )
    return RedirectResponse(f"/partners/{key}", status_code=303)


@router.post("/partners/{key}/details")
def change_details(
    key: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    partner = service.require(session, key)
    _require_manager(request, actor, partner)
    changes = {field: str(form.get(field, "")).strip() or None for field in EDITABLE}
    service.update_details(session, actor, partner, changes)
    return RedirectResponse(f"/partners/{key}", status_code=303)


@router.post("/partners/{key}/status")
def change_status(
    *,
    key: str,
    request: Request,
    status: str = Form(""),
    reason: str = Form(""),
    actor: ActorDep,
    session: SessionDep,
):
    if not is_partnership_admin(request, actor):
        raise HTTPException(403, "Only the partnership's admins change a partner's status.")
    partner = service.require(session, key)
    errors = {}
    if status not in {s.value for s in PartnerStatus}:
        errors["status"] = "Select the new status"
    if len(reason.strip()) < 3:
        errors["reason"] = "Say why; it is kept in the audit log"
    if not errors:
        try:
            service.change_status(session, actor, partner, status, reason=reason, on=date.today())
        except service.PartnerError as error:
            errors.update(field_errors(error, "status"))
    if errors:
        form = {"status": status, "reason": reason}
        return _partner_page(
            request, actor, session, partner, errors=errors, form=form, status_code=400
        )
    return RedirectResponse(f"/partners/{key}", status_code=303)


@router.post("/partners/{key}/members")
def add_member(
    key: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    partner = service.require(session, key)
    _require_manager(request, actor, partner)
    email = str(form.get("email", "")).strip()
    name = str(form.get("display_name", "")).strip()
    roles = [str(r) for r in form.getlist("roles")]
    errors = {}
    if "@" not in email:
        errors["email"] = "Enter their work e-mail address, like name@example.gov.uk"
    person = service.get_person_by_email(session, email) if not errors else None
    if person is None and not errors and len(name) < 2:
        errors["display_name"] = "This person is new here: enter their name"
    if not roles:
        errors["roles"] = "Select at least one role"
    if errors:
        kept = {
            "email": email,
            "display_name": name,
            "roles": roles,
            "job_title": form.get("job_title", ""),
        }
        return _partner_page(
            request, actor, session, partner, errors=errors, form=kept, status_code=400
        )
    service.grant_membership(
        session,
        actor,
        partner,
        email=email,
        roles=roles,
        display_name=name,
        job_title=str(form.get("job_title", "")).strip(),
    )
    return RedirectResponse(f"/partners/{key}#members", status_code=303)


@router.post("/partners/{key}/members/{membership_id}/end")
def end_member(
    key: str,
    membership_id: RowId,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    partner = service.require(session, key)
    _require_manager(request, actor, partner)
    membership = session.get(Membership, membership_id)
    if membership is None or membership.partner_id != partner.id:
        raise HTTPException(404, "No such member of this partner.")
    service.end_membership(session, membership, actor)
    return RedirectResponse(f"/partners/{key}#members", status_code=303)


@router.get("/charter")
def charter_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
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
        partnership_admin=is_partnership_admin(request, actor),
        can_endorse=bool(
            charter and mine and not mine.current and actor.has_role(Role.admin, Role.ig_lead)
        ),
        errors=errors or {},
        form=form or {},
        today=date.today(),
    )


@router.post("/charter/endorse")
def endorse(
    *,
    request: Request,
    signatory_name: str = Form(""),
    signatory_role: str = Form(""),
    actor: ActorDep,
    session: SessionDep,
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
    service.endorse_charter(
        session,
        partner,
        charter,
        signatory_name=signatory_name,
        signatory_role=signatory_role,
        on=date.today(),
        actor=actor,
    )
    return RedirectResponse("/charter", status_code=303)


@router.post("/charter")
def publish_charter(
    *,
    request: Request,
    title: str = Form(""),
    body: str = Form(""),
    summary_of_changes: str = Form(""),
    actor: ActorDep,
    session: SessionDep,
):
    if not is_partnership_admin(request, actor):
        raise HTTPException(403, "Only the partnership's admins publish the charter.")
    errors = {}
    if len(title.strip()) < 3:
        errors["title"] = "Enter the charter's title"
    if len(body.strip()) < 10:
        errors["body"] = "Enter the charter's text"
    if errors:
        form = {"title": title, "body": body, "summary_of_changes": summary_of_changes}
        return _charter_page(request, actor, session, errors=errors, form=form, status_code=400)
    service.publish_charter(
        session,
        title=title,
        body=body,
        summary_of_changes=summary_of_changes,
        on=date.today(),
        actor=actor,
    )
    return RedirectResponse("/charter", status_code=303)
