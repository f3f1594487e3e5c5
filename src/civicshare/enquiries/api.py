"""Members' enquiries over HTTP: raise one (`POST /api/enquiries`), list the acting membership's
(`GET /api/enquiries`), read one, and the team's answer, question and transfer. Every route
acts as the token's (or the session's) membership alone: another hat's enquiry is not found."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.core.identity import Actor
from civicshare.db import SessionDep, Timestamp
from civicshare.enquiries import service
from civicshare.enquiries.models import Enquiry

router = ApiRouter(prefix="/api/enquiries", tags=["enquiries"])


class ResidentIn(BaseModel):
    name: str = Field("", max_length=200)
    contact: str = Field("", max_length=200, description="Telephone or e-mail.")
    address: str = Field("", max_length=500)


class EnquiryIn(BaseModel):
    topic: str = Field(description="A topic key, e.g. council-tax, highways.")
    summary: str = Field(description="The resident's request, in the councillor's words.")
    postcode: str | None = Field(None, description="Where the issue is, e.g. B61 8DA.")
    easting: float | None = Field(None, description="Or a point: British National Grid metres.")
    northing: float | None = None
    consent: bool = Field(
        description="Whether the resident consents to their details going to the team; "
        "without it only the issue and its location pass on."
    )
    resident: ResidentIn | None = Field(None, description="The resident's details (optional).")


class ResidentOut(BaseModel):
    name: str
    contact: str
    address: str


class HistoryOut(BaseModel):
    at: Timestamp
    who: str
    action: str
    note: str
    details: dict[str, Any]


class EnquiryOut(BaseModel):
    reference: str
    topic: str
    summary: str
    postcode: str
    district: str
    consent: bool
    status: str
    raised_under: str = Field(description="The partner the raising membership acts for.")
    routed_to: str = Field(description="Key of the partner the enquiry is with.")
    team: str
    due_on: date
    raised_at: Timestamp
    answered_at: Timestamp | None
    answer: str
    resident: ResidentOut | None = Field(
        description="Only for the councillor, or for the team when the resident consented."
    )


class EnquiryDetailOut(EnquiryOut):
    history: list[HistoryOut]


class AnswerIn(BaseModel):
    answer: str


class QuestionIn(BaseModel):
    question: str


class ReplyIn(BaseModel):
    reply: str


class TransferIn(BaseModel):
    to_partner: str = Field(description="Key of the partner it goes to.")
    team: str
    reason: str


def summary(settings, actor: Actor, enquiry: Enquiry) -> dict[str, Any]:
    resident = service.resident_for(settings, actor, enquiry)
    return {
        "reference": enquiry.reference,
        "topic": enquiry.topic.key,
        "summary": enquiry.summary,
        "postcode": enquiry.postcode,
        "district": enquiry.district,
        "consent": enquiry.consent,
        "status": enquiry.status.value,
        "raised_under": enquiry.raised_for.key,
        "routed_to": enquiry.routed_to.key,
        "team": enquiry.team,
        "due_on": enquiry.due_on,
        "raised_at": enquiry.raised_at,
        "answered_at": enquiry.answered_at,
        "answer": enquiry.answer,
        "resident": None if resident is None else asdict(resident),
    }


def detail(session, settings, actor: Actor, enquiry: Enquiry) -> dict[str, Any]:
    history = [
        {
            "at": event.at,
            "who": service.membership_label(session, event.membership_id),
            "action": event.action,
            "note": event.note,
            "details": event.details,
        }
        for event in service.events(session, enquiry)
    ]
    return jsonable_encoder({**summary(settings, actor, enquiry), "history": history})


@router.get(
    "",
    scope="enquiries:read",
    response_model=list[EnquiryOut],
    summary="Enquiries of the acting membership: raised under it, or routed to its team",
)
def list_enquiries(request: Request, actor: ActorDep, session: SessionDep):
    settings = request.app.state.settings
    return jsonable_encoder(
        [summary(settings, actor, e) for e in service.visible_to(session, actor)]
    )


@router.post(
    "",
    scope="enquiries:write",
    response_model=EnquiryOut,
    status_code=201,
    summary="Raise a member's enquiry (elected members); routed by topic and district",
)
def raise_enquiry(body: EnquiryIn, request: Request, actor: ActorDep, session: SessionDep):
    settings = request.app.state.settings
    resident = service.Resident(**body.resident.model_dump()) if body.resident else None
    enquiry = service.raise_enquiry(
        session, settings, actor, topic=body.topic, summary=body.summary, postcode=body.postcode,
        easting=body.easting, northing=body.northing, consent=body.consent, resident=resident,
    )  # fmt: skip
    return jsonable_encoder(summary(settings, actor, enquiry))


@router.get(
    "/{reference}",
    scope="enquiries:read",
    response_model=EnquiryDetailOut,
    summary="One enquiry with its history, if the acting membership may see it",
)
def read_enquiry(reference: str, request: Request, actor: ActorDep, session: SessionDep):
    enquiry = service.get_for(session, actor, reference)
    return detail(session, request.app.state.settings, actor, enquiry)


@router.post(
    "/{reference}/answer",
    scope="enquiries:write",
    response_model=EnquiryDetailOut,
    summary="Answer an enquiry routed to your partner (caseworkers)",
)
def answer(reference: str, body: AnswerIn, request: Request, actor: ActorDep, session: SessionDep):
    settings = request.app.state.settings
    enquiry = service.get_for(session, actor, reference)
    service.answer(session, settings, actor, enquiry, body.answer)
    return detail(session, settings, actor, enquiry)


@router.post(
    "/{reference}/ask",
    scope="enquiries:write",
    response_model=EnquiryDetailOut,
    summary="Ask the councillor for more information (caseworkers)",
)
def ask(reference: str, body: QuestionIn, request: Request, actor: ActorDep, session: SessionDep):
    settings = request.app.state.settings
    enquiry = service.get_for(session, actor, reference)
    service.ask_for_more(session, settings, actor, enquiry, body.question)
    return detail(session, settings, actor, enquiry)


@router.post(
    "/{reference}/reply",
    scope="enquiries:write",
    response_model=EnquiryDetailOut,
    summary="Give the team the information it asked for (the councillor who raised it)",
)
def reply(reference: str, body: ReplyIn, request: Request, actor: ActorDep, session: SessionDep):
    settings = request.app.state.settings
    enquiry = service.get_for(session, actor, reference)
    service.reply(session, settings, actor, enquiry, body.reply)
    return detail(session, settings, actor, enquiry)


@router.post(
    "/{reference}/transfer",
    scope="enquiries:write",
    response_model=EnquiryDetailOut,
    summary="Transfer an enquiry to another partner and team (caseworkers); history kept",
)
def transfer(
    reference: str, body: TransferIn, request: Request, actor: ActorDep, session: SessionDep
):
    settings = request.app.state.settings
    enquiry = service.get_for(session, actor, reference)
    service.transfer(session, settings, actor, enquiry, to_partner=body.to_partner,
                     team=body.team, reason=body.reason)  # fmt: skip
    return detail(session, settings, actor, enquiry)
