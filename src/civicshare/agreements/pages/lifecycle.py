"""An agreement: its page, a version's task list, check answers, the lifecycle steps and
amending."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse

from civicshare.accounts.api import ActorDep
from civicshare.agreements import documents, service
from civicshare.agreements.models import (
    Status,
)
from civicshare.agreements.pages.common import url_of
from civicshare.agreements.pages.forms import field_spec, parse
from civicshare.agreements.validation import SECTIONS, section_states, validate
from civicshare.db import RowId, SessionDep
from civicshare.web.forms import FormDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/agreements/{reference}")
def agreement_page(
    reference: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    agreement = service.get_for(session, actor, reference)
    return _show(request, session, actor, service.headline(agreement))


def _show(request, session, actor, version):
    agreement = version.agreement
    approvals = version.current_approvals()
    return render(
        request,
        "agreements/show.html",
        active_nav="agreements",
        version=version,
        agreement=agreement,
        approvals=approvals,
        actions=service.allowed_actions(actor, version, separation=_separation(request)),
        may_amend=service.may_amend(actor, version),
        pending=service.pending_amendment(agreement),
        versions=[v for v in agreement.versions if service.may_view_version(actor, v)],
        history=service.history(session, agreement),
        may_edit=service.may_edit(actor, version),
        problems=validate(version) if version.status == Status.draft else [],
        sections=documents.document_sections(version),
        done=request.query_params.get("done", ""),
    )


@router.get("/agreements/{reference}/versions/{number}")
def version_page(
    reference: str,
    number: RowId,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    if version.status != Status.draft:
        return _show(request, session, actor, version)
    states = section_states(version)
    return render(
        request,
        "agreements/task_list.html",
        active_nav="agreements",
        version=version,
        sections=[(key, title, states[key]) for key, (title, _) in SECTIONS.items()],
        may_edit=service.may_edit(actor, version),
        complete=not any(states.values()),
        done=sum(1 for outstanding in states.values() if not outstanding),
    )


@router.get("/agreements/{reference}/versions/{number}/check")
def check_page(
    reference: str,
    number: RowId,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    return _check(request, actor, version)


def _check(request, actor, version, status_code=200):
    return render(
        request,
        "agreements/check.html",
        status_code=status_code,
        active_nav="agreements",
        version=version,
        problems=validate(version),
        may_submit=any(
            t.action == "submit"
            for t in service.allowed_actions(actor, version, separation=_separation(request))
        ),
        may_edit=service.may_edit(actor, version),
        sections=documents.document_sections(version),
        section_keys=list(SECTIONS),
    )


STEP_FIELDS = {"endorse", "suspend", "resume", "revoke", "reject", "withdraw"}


@router.get("/agreements/{reference}/versions/{number}/do/{action}")
def step_form(
    reference: str,
    number: RowId,
    action: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    transition = _transition(request, actor, version, action)
    return _step_page(request, version, transition)


def _separation(request) -> str:
    return request.app.state.settings.separation_of_duties


def _transition(request, actor, version, action):
    transition = service.TRANSITIONS.get(action)
    if transition is None or transition.who == "system":
        raise HTTPException(404, f"There is no step called {action}.")
    separation = _separation(request)
    if transition not in service.allowed_actions(actor, version, separation=separation):
        # the precise refusal
        service.check_step(None, actor, version, action, "reason", separation)
        raise HTTPException(409, f"You cannot {action} {version.reference} now.")
    return transition


def _step_page(request, version, transition, *, errors=None, form=None, status_code=200):
    return render(
        request,
        "agreements/step.html",
        status_code=status_code,
        active_nav="agreements",
        version=version,
        transition=transition,
        errors=errors or {},
        form=form or {},
    )


@router.post("/agreements/{reference}/versions/{number}/do/{action}")
def step_submit(
    reference: str,
    number: RowId,
    action: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    transition = _transition(request, actor, version, action)
    reason = str(form.get("reason", "")).strip()
    errors: dict[str, str] = {}
    meeting_date = None
    spec = field_spec("meeting_date", "Date of the IG group meeting", "date")
    if action == "endorse":
        values, errors = parse(form, [spec])
        meeting_date = values["meeting_date"]
        if meeting_date is None and not errors:
            errors["meeting_date-day"] = "Enter the date of the IG group meeting"
        if not str(form.get("minute_reference", "")).strip():
            errors["minute_reference"] = "Enter the minute reference of the decision"
    if transition.needs_reason and not reason:
        errors["reason"] = f"Enter the reason to {transition.button.lower()}"
    shown = {
        "reason": reason,
        "minute_reference": str(form.get("minute_reference", "")),
        "meeting_date": spec.get("parts", ["", "", ""]),
    }
    if not errors:
        try:
            service.perform(
                session,
                actor,
                version,
                action,
                reason=reason,
                meeting_date=meeting_date,
                minute_reference=shown["minute_reference"],
                separation=_separation(request),
            )
        except service.Invalid as error:
            if action == "submit":
                session.rollback()
                return _check(request, actor, version, status_code=400)
            errors = {
                ("meeting_date-day" if p.field == "meeting_date" else p.field): p.message
                for p in error.problems
            }
    if errors:
        return _step_page(request, version, transition, errors=errors, form=shown, status_code=400)
    done = "" if version.status == Status.draft else f"?done={quote(action)}"
    return RedirectResponse(url_of(version) + done, status_code=303)


@router.get("/agreements/{reference}/amend")
def amend_form(
    reference: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    agreement = _agreement(session, actor, reference)
    return _amend_page(request, agreement)


def _agreement(session, actor, reference):
    agreement = service.get_for(session, actor, reference)
    if not service.may_amend(actor, agreement.versions[-1]):
        raise HTTPException(
            403, f"Acting for {actor.partner_name}, you cannot amend {agreement.reference} now."
        )
    return agreement


def _amend_page(request, agreement, errors=None, reason="", status_code=200):
    return render(
        request,
        "agreements/amend.html",
        status_code=status_code,
        active_nav="agreements",
        agreement=agreement,
        version=agreement.versions[-1],
        errors=errors or {},
        reason=reason,
    )


@router.post("/agreements/{reference}/amend")
def amend_submit(
    reference: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    agreement = _agreement(session, actor, reference)
    reason = str(form.get("reason", "")).strip()
    if not reason:
        return _amend_page(
            request,
            agreement,
            {"reason": "Enter what the amendment changes and why"},
            status_code=400,
        )
    version = service.amend(session, actor, agreement, reason=reason)
    return RedirectResponse(url_of(version), status_code=303)
