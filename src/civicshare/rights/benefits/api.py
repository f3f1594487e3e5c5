"""The benefits of sharing over HTTP: the month-by-month report as JSON or CSV and the
time-saved assumptions (benefits:read), and an admin's edit of one assumption
(benefits:write)."""

from __future__ import annotations

from datetime import datetime

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from civicshare import csvsafe
from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import SessionDep
from civicshare.rights.benefits import service

router = ApiRouter(prefix="/api/benefits", tags=["benefits"])
MONTHS = Query(service.DEFAULT_MONTHS, ge=1, le=service.MAX_MONTHS, description="Months back")


class FigureOut(BaseModel):
    name: str
    label: str
    count: str = Field(description="Suppressed: 0, * (1 to 7) or rounded to the nearest 5")
    minutes_each: int
    hours_saved: float | None = Field(description="None where the count is suppressed")


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM, a UTC calendar month")
    title: str
    hours_saved: float
    figures: list[FigureOut]


class AssumptionOut(BaseModel):
    name: str
    label: str
    unit: str
    minutes: int
    basis: str
    default_minutes: int
    changed: bool
    updated_at: datetime | None
    updated_by: str | None


class BenefitsOut(BaseModel):
    months: list[MonthOut] = Field(description="Newest first")
    assumptions: list[AssumptionOut]
    suppression: str


class AssumptionIn(BaseModel):
    minutes: int = Field(ge=0, le=service.MAX_MINUTES, description="Minutes saved per one")
    basis: str = Field(default="", max_length=2000, description="Why (kept if left empty)")


@router.get(
    "",
    scope=service.READ_SCOPE,
    response_model=BenefitsOut,
    summary="What sharing produced, month by month, and the time it saved",
)
def benefits(actor: ActorDep, session: SessionDep, months: int = MONTHS):
    service.require_reader(actor)
    return service.report(session, months).as_dict()


@router.get(
    ".csv",
    scope=service.READ_SCOPE,
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The same report as CSV: one row per month and figure",
)
def benefits_csv(actor: ActorDep, session: SessionDep, months: int = MONTHS):
    service.require_reader(actor)
    made = service.report(session, months)
    return Response(
        csvsafe.rows_text(service.csv_rows(made), header=service.CSV_HEADER),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="benefits.csv"'},
    )


@router.get(
    "/assumptions",
    scope=service.READ_SCOPE,
    response_model=list[AssumptionOut],
    summary="The minutes each figure is assumed to save, and why",
)
def assumptions(actor: ActorDep, session: SessionDep):
    service.require_reader(actor)
    return [a.as_dict() for a in service.assumptions(session)]


@router.put(
    "/assumptions/{name}",
    scope=service.WRITE_SCOPE,
    response_model=AssumptionOut,
    summary="Change one assumption (the host partner's admins; audited)",
)
def set_assumption(
    name: str, body: AssumptionIn, request: Request, actor: ActorDep, session: SessionDep
):
    made = service.set_assumption(
        session, request.app.state.settings, actor, name, body.minutes, body.basis
    )
    return made.as_dict()
