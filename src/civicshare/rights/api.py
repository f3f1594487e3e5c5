"""Residents' rights over HTTP: the public register in plain English as JSON at /register.json
(no sign-in, beside the register's other public documents), and objections and the national
data opt-out for IG leads (token scope objections:write)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import RowId, SessionDep
from civicshare.rights import service

router = ApiRouter(prefix="/api", tags=["rights"])
# Public, like /register/checkpoints: outside /api, where every route needs a credential.
register_router = APIRouter(tags=["register"])
SCOPE = "objections:write"


class RegisterOut(BaseModel):
    agreements: list[dict[str, Any]] = Field(
        description="Every agreement in force: each data item by its plain name with its "
        "treatment, which records, purposes, lawful basis, retention, each party's data "
        "protection officer, and links to the agreement document and the charter."
    )
    as_of: date


class ObjectionIn(BaseModel):
    purpose: str = Field(description="The purpose code objected to, e.g. discharge-risk-model.")
    reason: str = Field(min_length=3, description="What the person objected to and how.")
    person_key: str | None = Field(default=None, description="The person index key, if known.")
    source: str | None = Field(
        default=None, description="Or a record the person has: partner/dataset ..."
    )
    record_id: str | None = Field(default=None, description="... and the record's id there.")


class ObjectionOut(BaseModel):
    id: int
    person_key: str
    purpose: str
    reason: str
    recorded_at: datetime
    withdrawn_at: datetime | None

    model_config = {"from_attributes": True}


class WithdrawIn(BaseModel):
    reason: str = Field(min_length=3)


class OptOutsOut(BaseModel):
    source: str
    snapshot_version: int
    records: int
    opted_out: int = Field(description="People with the national data opt-out, once each.")


@register_router.get(
    "/register.json",
    response_model=RegisterOut,
    summary="The public register in plain English (no sign-in needed)",
)
def register(session: SessionDep) -> RegisterOut:
    today = date.today()
    return RegisterOut(agreements=service.register(session, today), as_of=today)


@router.get(
    "/rights/objections",
    scope=SCOPE,
    response_model=list[ObjectionOut],
    summary="Objections in force (and withdrawn ones with all=true)",
)
def list_objections(actor: ActorDep, session: SessionDep, all: bool = False):
    service._require_ig_lead(actor, "see objections")
    return service.objections(session, include_withdrawn=all)


@router.post(
    "/rights/objections",
    scope=SCOPE,
    response_model=ObjectionOut,
    status_code=201,
    summary="Record a person's objection to a purpose: their rows stop flowing under it",
)
def record_objection(body: ObjectionIn, actor: ActorDep, session: SessionDep):
    return service.record_objection(session, actor, **body.model_dump(), via="api")


@router.post(
    "/rights/objections/{objection_id}/withdraw",
    scope=SCOPE,
    response_model=ObjectionOut,
    summary="The person withdrew their objection",
)
def withdraw_objection(objection_id: RowId, body: WithdrawIn, actor: ActorDep, session: SessionDep):
    return service.withdraw_objection(session, actor, objection_id, reason=body.reason, via="api")


@router.post(
    "/rights/opt-outs/refresh",
    scope=SCOPE,
    response_model=OptOutsOut,
    summary="Read the national data opt-out from the health feed's current snapshot",
)
def refresh_opt_outs(request: Request, actor: ActorDep, session: SessionDep):
    done = service.refresh_national_opt_outs(session, request.app.state.settings, actor, via="api")
    return OptOutsOut(**done.__dict__)
