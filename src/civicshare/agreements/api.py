"""Agreements over HTTP: JSON under /api/agreements, a thin adapter over the service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, Field, model_validator

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.agreements import library, service
from civicshare.agreements.models import (
    SCHEDULE1,
    Agreement,
    AgreementVersion,
    Article6,
    Article9,
    ControllerArrangement,
    Frequency,
    Generalisation,
    PartyRole,
    SpecialCategory,
    Status,
    Treatment,
)
from civicshare.agreements.validation import validate
from civicshare.dataplane.grant import ConditionOp
from civicshare.db import RowId, SessionDep, Timestamp

router = ApiRouter(prefix="/api/agreements", tags=["agreements"])

Action = Literal[
    "submit", "withdraw", "approve", "reject", "endorse", "activate", "suspend", "resume", "revoke"
]


# -- shapes ---------------------------------------------------------------------------------


class PartyIn(BaseModel):
    partner: str = Field(description="The partner's key, e.g. worcs-acute.")
    role: PartyRole


class ItemIn(BaseModel):
    provider: str = Field(description="Key of the provider partner (must be a provider party).")
    dataset: str
    column: str
    description: str = ""
    treatment: Treatment = Treatment.identifiable
    generalisation: Generalisation | None = None
    special_category: SpecialCategory | None = None
    criminal_offence: bool = False
    personal: bool = True


class PurposeIn(BaseModel):
    code: str = Field(description="Lowercase words joined by hyphens, e.g. discharge-planning.")
    description: str = Field(description="A sentence: what the data may be used for.")


Scalar = str | int | float | bool


class ConditionIn(BaseModel):
    """A condition every shared row of one provider's dataset meets; the data plane enforces
    it. Submission checks the column against the dataset's contract and the values against
    its type."""

    provider: str = Field(description="Key of the provider partner, e.g. worcs-acute.")
    dataset: str = Field(description="A dataset the agreement has data items from.")
    column: str = Field(description="A column of the dataset's contract, e.g. DISCH_PATHWAY.")
    op: ConditionOp = Field(
        description="equals (one value), in (a list), between (low and/or high, inclusive), "
        "is_null, is_not_null."
    )
    values: list[Scalar] = Field(default_factory=list, description="For equals and in.")
    low: Scalar | None = Field(default=None, description="For between: the lowest value.")
    high: Scalar | None = Field(default=None, description="For between: the highest value.")


class RowScope(BaseModel):
    recipient_district_only: bool = False
    min_age: int | None = None
    max_age: int | None = None
    description: str = Field(
        default="", description="Explains which records are shared; it does not restrict them."
    )
    conditions: list[ConditionIn] = Field(
        default_factory=list,
        description="Row conditions: only rows meeting every condition on their dataset are "
        "shared.",
    )


class VersionIn(BaseModel):
    """Fields to change on a draft; those left out stay as they are."""

    title: str | None = None
    purposes: list[PurposeIn] | None = Field(
        default=None,
        description="The permitted purposes: a share request names one of their codes; the "
        "gateway refuses any other. Replaces the whole list.",
    )
    purpose: str | None = Field(
        default=None, description="Explains the sharing; the permitted purposes restrict it."
    )
    necessity: str | None = None
    benefits: str | None = None
    data_subjects: str | None = None
    controller_arrangement: ControllerArrangement | None = None
    joint_arrangement: str | None = None
    article6: Article6 | None = None
    article9: Article9 | None = None
    schedule1: list[str] | None = Field(
        default=None, description=f"DPA 2018 Schedule 1 paragraphs: {', '.join(SCHEDULE1)}"
    )
    appropriate_policy_document: bool | None = None
    article10_schedule1: list[str] | None = None
    dpa_part3: bool | None = None
    law_enforcement_purpose: str | None = None
    statutory_powers: list[str] | None = None
    row_scope: RowScope | None = None
    frequency: Frequency | None = None
    retention: str | None = None
    deletion_method: str | None = None
    security: str | None = None
    rights_handling: str | None = None
    dpia_answers: dict[str, bool] | None = None
    dpia_outcome: str | None = None
    dpia_completed_on: date | None = None
    start_date: date | None = None
    end_date: date | None = None
    review_date: date | None = None
    emergency: bool | None = None
    emergency_trigger: str | None = None
    parties: list[PartyIn] | None = None
    data_items: list[ItemIn] | None = None
    reason: str = Field(default="", description="Why the change is made (kept in the history).")

    @model_validator(mode="after")
    def _null_only_where_a_field_may_be_empty(self):
        refused = sorted(
            name for name in self.model_fields_set - CLEARABLE if getattr(self, name) is None
        )
        if refused:
            raise ValueError(
                f"{', '.join(refused)} cannot be null: send a value, or leave it out to keep it"
            )
        return self


# The fields a draft may hold empty (null clears them); every other field needs a value.
CLEARABLE = frozenset(
    {
        "controller_arrangement",
        "article6",
        "article9",
        "frequency",
        "dpia_completed_on",
        "start_date",
        "end_date",
        "review_date",
    }
)


class NewAgreementIn(VersionIn):
    title: str = Field(min_length=1, max_length=200)
    template: str | None = Field(default=None, description="A template key to start from.")


class StepIn(BaseModel):
    reason: str = Field(default="", description="Why; needed to withdraw, suspend, resume, "
                        "revoke or return to draft.")  # fmt: skip
    meeting_date: date | None = Field(default=None, description="Endorse: the IG group meeting.")
    minute_reference: str = Field(default="", description="Endorse: the minute reference.")


class AmendIn(BaseModel):
    reason: str = Field(min_length=1, description="What the amendment changes and why.")


def version_out(version: AgreementVersion) -> dict[str, Any]:
    approvals = version.current_approvals()
    out: dict[str, Any] = {
        "reference": version.reference,
        "version": version.number,
        "status": version.status.value,
        "amends_version": next(
            (v.number for v in version.agreement.versions if v.id == version.amends_version_id),
            None,
        ),
        "change_summary": version.change_summary,
    }
    for field in service.SCALAR_FIELDS:
        value = getattr(version, field)
        out[field] = value.value if hasattr(value, "value") else value
    out["dpia_required"] = version.dpia_required
    out["dpia_reasons"] = version.dpia_reasons
    out["parties"] = [
        {
            "partner": p.partner.key,
            "name": p.partner.name,
            "role": p.role.value,
            "decision": approvals[p.partner_id].decision.value
            if p.partner_id in approvals
            else None,
        }
        for p in version.parties
    ]
    out["data_items"] = [service.item_dict(i) for i in version.data_items]
    out["submitted_at"] = version.submitted_at
    out["endorsement"] = (
        {
            "meeting_date": version.endorsement_meeting_date,
            "minute_reference": version.endorsement_minute_ref,
        }
        if version.endorsement_meeting_date
        else None
    )
    out["activated_at"] = version.activated_at
    out["status_reason"] = version.status_reason
    return out


def summary_out(agreement: Agreement, shown: AgreementVersion) -> dict[str, Any]:
    return {
        "reference": agreement.reference,
        "title": shown.title,
        "version": shown.number,
        "status": shown.status.value,
        "parties": [p.partner.key for p in shown.parties],
        "start_date": shown.start_date,
        "review_date": shown.review_date,
        "end_date": shown.end_date,
    }


class SummaryOut(BaseModel):
    reference: str
    title: str
    version: int
    status: Status
    parties: list[str]
    start_date: date | None
    review_date: date | None
    end_date: date | None


class TemplatePartyOut(BaseModel):
    partner: str
    role: PartyRole


class TemplateOut(BaseModel):
    key: str
    title: str
    summary: str
    parties: list[TemplatePartyOut]


class VersionPartyOut(BaseModel):
    partner: str
    name: str
    role: PartyRole
    decision: str | None = Field(description="This party's decision on the version, if any.")


class ItemOut(BaseModel):
    provider: str
    dataset: str
    column: str
    description: str
    treatment: Treatment
    generalisation: Generalisation | None
    special_category: SpecialCategory | None
    criminal_offence: bool
    personal: bool


class EndorsementOut(BaseModel):
    meeting_date: date
    minute_reference: str


class VersionOut(BaseModel):
    """One version of an agreement, every field of it."""

    reference: str
    version: int
    status: Status
    amends_version: int | None
    change_summary: str | None
    title: str | None
    purposes: list[PurposeIn] | None
    purpose: str | None
    necessity: str | None
    benefits: str | None
    data_subjects: str | None
    controller_arrangement: ControllerArrangement | None
    joint_arrangement: str | None
    article6: Article6 | None
    article9: Article9 | None
    schedule1: list[str] | None
    appropriate_policy_document: bool | None
    article10_schedule1: list[str] | None
    dpa_part3: bool | None
    law_enforcement_purpose: str | None
    statutory_powers: list[str] | None
    row_scope: dict[str, Any] | None
    frequency: Frequency | None
    retention: str | None
    deletion_method: str | None
    security: str | None
    rights_handling: str | None
    dpia_answers: dict[str, Any] | None
    dpia_outcome: str | None
    dpia_completed_on: date | None
    start_date: date | None
    end_date: date | None
    review_date: date | None
    emergency: bool | None
    emergency_trigger: str | None
    dpia_required: bool | None
    dpia_reasons: list[str] | None
    parties: list[VersionPartyOut]
    data_items: list[ItemOut]
    submitted_at: Timestamp | None
    endorsement: EndorsementOut | None
    activated_at: Timestamp | None
    status_reason: str | None


class ProblemOut(BaseModel):
    field: str
    message: str


class VersionDetailOut(VersionOut):
    problems: list[ProblemOut] = Field(description="What stops it being submitted.")
    allowed_actions: list[str] = Field(description="The lifecycle steps you may take now.")


class VersionListedOut(BaseModel):
    version: int
    status: Status
    change_summary: str | None


class AgreementOut(BaseModel):
    reference: str
    drafted_by: str
    current: VersionOut = Field(description="The version in force, or else the newest.")
    versions: list[VersionListedOut]


class HistoryOut(BaseModel):
    at: datetime
    action: str
    by: str
    membership_id: int | None
    reason: str
    details: dict[str, Any]


# -- routes ---------------------------------------------------------------------------------


@router.get(
    "", scope="agreements:read", response_model=list[SummaryOut], summary="Agreements you can see"
)
def list_agreements(
    *,
    status: Status | None = None,
    actor: ActorDep,
    session: SessionDep,
) -> list[dict]:
    return [summary_out(a, v) for a, v in service.list_for(session, actor, status)]


@router.get(
    "/templates",
    scope="agreements:read",
    response_model=list[TemplateOut],
    summary="The library of agreement templates",
)
def templates(actor: ActorDep) -> list[dict]:
    return [
        {
            "key": t.key,
            "title": t.title,
            "summary": t.summary,
            "parties": [{"partner": k, "role": r} for k, _, r in t.parties],
        }
        for t in library.TEMPLATES.values()
    ]


@router.get(
    "/review-due",
    scope="agreements:read",
    response_model=list[SummaryOut],
    summary="Agreements due for review",
)
def review_due(
    *,
    within: int = Query(90, ge=0, le=3650, description="Days ahead to look."),
    actor: ActorDep,
    session: SessionDep,
) -> list[dict]:
    return [
        summary_out(v.agreement, v)
        for v in service.review_due(session, date.today(), within)
        if service.may_view(actor, v.agreement)
    ]


@router.post(
    "",
    scope="agreements:write",
    response_model=VersionOut,
    status_code=201,
    summary="Draft a new agreement",
)
def create(
    *,
    body: NewAgreementIn,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.create_draft(
        session, actor, title=body.title, template_key=body.template, reason=body.reason
    )
    changes = _changes(body, exclude={"title", "template"})
    if changes:
        service.update_draft(session, actor, version, changes, reason=body.reason)
    return version_out(version)


def _changes(body: VersionIn, exclude: set[str] = frozenset()) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True, exclude={"reason", *exclude})
    return data


@router.get(
    "/{reference}",
    scope="agreements:read",
    response_model=AgreementOut,
    summary="An agreement and its versions",
)
def get_agreement(
    *,
    reference: str,
    actor: ActorDep,
    session: SessionDep,
):
    agreement = service.get_for(session, actor, reference)
    shown = service.headline(agreement)
    return {
        "reference": agreement.reference,
        "drafted_by": agreement.drafted_by.key,
        "current": version_out(shown),
        "versions": [
            {"version": v.number, "status": v.status.value, "change_summary": v.change_summary}
            for v in agreement.versions
            if service.may_view_version(actor, v)
        ],
    }


@router.get(
    "/{reference}/versions/{number}",
    scope="agreements:read",
    response_model=VersionDetailOut,
    summary="One version of an agreement",
)
def get_version(
    *,
    reference: str,
    number: RowId,
    actor: ActorDep,
    session: SessionDep,
    request: Request,
):
    version = service.version_for(session, actor, reference, number)
    return {
        **version_out(version),
        "problems": [{"field": p.field, "message": p.message} for p in validate(version)],
        "allowed_actions": [
            t.action
            for t in service.allowed_actions(
                actor, version, separation=request.app.state.settings.separation_of_duties
            )
        ],
    }


@router.patch(
    "/{reference}/versions/{number}",
    scope="agreements:write",
    response_model=VersionOut,
    summary="Change a draft",
)
def update_version(
    *,
    reference: str,
    number: RowId,
    body: VersionIn,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    service.update_draft(session, actor, version, _changes(body), reason=body.reason)
    return version_out(version)


@router.post(
    "/{reference}/versions/{number}/{action}",
    scope="agreements:write",
    response_model=VersionOut,
    summary="Take a lifecycle step",
)
def step(
    *,
    reference: str,
    number: RowId,
    action: Action,
    body: StepIn | None = None,
    actor: ActorDep,
    session: SessionDep,
    request: Request,
):
    """submit, withdraw, approve (for your own partner), reject (return to draft), endorse
    (for the IG group: meeting_date and minute_reference), activate, suspend, resume, revoke."""
    body = body or StepIn()
    version = service.version_for(session, actor, reference, number)
    service.perform(
        session,
        actor,
        version,
        action,
        reason=body.reason,
        meeting_date=body.meeting_date,
        minute_reference=body.minute_reference,
        separation=request.app.state.settings.separation_of_duties,
    )
    return version_out(version)


@router.post(
    "/{reference}/amend",
    scope="agreements:write",
    response_model=VersionOut,
    status_code=201,
    summary="Start a new version",
)
def amend(
    *,
    reference: str,
    body: AmendIn,
    actor: ActorDep,
    session: SessionDep,
):
    agreement = service.get_for(session, actor, reference)
    version = service.amend(session, actor, agreement, reason=body.reason)
    return version_out(version)


@router.get(
    "/{reference}/history",
    scope="agreements:read",
    response_model=list[HistoryOut],
    summary="Every change",
)
def history(
    *,
    reference: str,
    actor: ActorDep,
    session: SessionDep,
):
    agreement = service.get_for(session, actor, reference)
    return [
        {
            "at": e.at,
            "action": e.action,
            "by": e.actor_label,
            "membership_id": e.membership_id,
            "reason": e.reason,
            "details": e.details,
        }
        for e in service.history(session, agreement)
    ]
