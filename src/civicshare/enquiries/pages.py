"""Members' enquiries in the browser: the councillor's list and the team's queue, raising an
enquiry, the enquiry page (answer, ask for more, reply, transfer) and the monthly counts. Every
page says which hat is on; each reads only what the acting membership may see."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from civicshare.accounts.api import ActorDep
from civicshare.core.identity import Role
from civicshare.db import SessionDep, utcnow
from civicshare.enquiries import service, upkeep
from civicshare.enquiries.errors import EnquiryError
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


def _text(form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


@router.get("/enquiries")
def enquiries_page(request: Request, actor: ActorDep, session: SessionDep):
    return render(
        request,
        "enquiries/list.html",
        active_nav="enquiries",
        hat=service.hat(actor),
        is_councillor=actor.has_role(Role.elected_member),
        is_caseworker=actor.has_role(Role.caseworker),
        raised=service.raised_by(session, actor),
        queue=service.queue_for(session, actor),
        today=utcnow().date(),
    )


def _new_page(request, actor, session, *, errors=None, form=None, status_code=200):
    return render(
        request,
        "enquiries/new.html",
        status_code=status_code,
        active_nav="enquiries",
        hat=service.hat(actor),
        topics=service.topics(session),
        errors=errors or {},
        form=form or {},
    )


@router.get("/enquiries/new")
def new_enquiry_page(request: Request, actor: ActorDep, session: SessionDep):
    if not actor.has_role(Role.elected_member):
        raise EnquiryError(
            f"Acting for {actor.partner_name}, you are not an elected member: only councillors "
            "raise members' enquiries.",
            status=403,
        )
    return _new_page(request, actor, session)


@router.post("/enquiries/new")
def raise_enquiry(request: Request, form: FormDep, actor: ActorDep, session: SessionDep):
    shown = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    consent = _text(form, "consent")
    if consent not in ("yes", "no"):
        errors = {"consent": "Say whether the resident consents to their details going to the team"}
        return _new_page(request, actor, session, errors=errors, form=shown, status_code=400)
    resident = service.Resident(
        name=_text(form, "resident_name"),
        contact=_text(form, "resident_contact"),
        address=_text(form, "resident_address"),
    )
    try:
        enquiry = service.raise_enquiry(
            session, request.app.state.settings, actor, topic=_text(form, "topic"),
            summary=_text(form, "summary"), postcode=_text(form, "postcode"),
            consent=consent == "yes", resident=resident,
        )  # fmt: skip
    except EnquiryError as error:
        return _new_page(request, actor, session, errors=field_errors(error, "summary"),
                         form=shown, status_code=error.status)  # fmt: skip
    return RedirectResponse(f"/enquiries/{enquiry.reference}", status_code=303)


@router.get("/enquiries/counts")
def counts_page(request: Request, actor: ActorDep, session: SessionDep):
    return render(
        request,
        "enquiries/counts.html",
        active_nav="enquiries",
        rows=upkeep.monthly_counts(session),
        bands=upkeep.ANSWER_BANDS,
    )


def _enquiry_page(request, actor, session, enquiry, *, errors=None, form=None, status_code=200):
    settings = request.app.state.settings
    return render(
        request,
        "enquiries/show.html",
        status_code=status_code,
        active_nav="enquiries",
        hat=service.hat(actor),
        enquiry=enquiry,
        is_raiser=service.is_raiser(actor, enquiry),
        is_team=service.is_team(actor, enquiry),
        resident=service.resident_for(settings, actor, enquiry),
        known_here=service.known_here(session, settings, actor, enquiry),
        history=[
            (event, service.membership_label(session, event.membership_id))
            for event in service.events(session, enquiry)
        ],
        partners=service.partners_for_transfer(session, actor),
        overdue=service.is_overdue(enquiry),
        errors=errors or {},
        form=form or {},
    )


@router.get("/enquiries/{reference}")
def enquiry_page(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    enquiry = service.get_for(session, actor, reference)
    return _enquiry_page(request, actor, session, enquiry)


# What each form on the enquiry page does: (the service function, its fields, the default field
# a refusal is shown beside).
ACTIONS = {
    "answer": (service.answer, ("answer",), "answer"),
    "ask": (service.ask_for_more, ("question",), "question"),
    "reply": (service.reply, ("reply",), "reply"),
    "transfer": (service.transfer, ("to_partner", "team", "reason"), "reason"),
}


@router.post("/enquiries/{reference}/{action}")
def act_on_enquiry(
    reference: str, action: str, request: Request, form: FormDep, actor: ActorDep,
    session: SessionDep,
):  # fmt: skip
    enquiry = service.get_for(session, actor, reference)
    if action not in ACTIONS:
        raise EnquiryError(f"There is no action {action!r} on an enquiry.", status=404)
    act, fields, default = ACTIONS[action]
    values = [_text(form, name) for name in fields]
    settings = request.app.state.settings
    try:
        if action == "transfer":
            to_partner, team, reason = values
            act(session, settings, actor, enquiry, to_partner=to_partner, team=team,
                reason=reason)  # fmt: skip
        else:
            act(session, settings, actor, enquiry, *values)
    except EnquiryError as error:
        # Each action checks everything before it changes anything: nothing to undo here.
        shown = {name: value for name, value in zip(fields, values, strict=True)}
        return _enquiry_page(request, actor, session, enquiry, errors=field_errors(error, default),
                             form=shown, status_code=error.status)  # fmt: skip
    return RedirectResponse(f"/enquiries/{reference}", status_code=303)
