"""The single person discount review over HTTP: run it for your district, list its ranked cases
(JSON or CSV: evidence summaries, never the other partners' records) and record outcomes."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from civicshare import csvsafe
from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.counciltax import service
from civicshare.counciltax.models import DiscountCase, Outcome
from civicshare.db import SessionDep

router = ApiRouter(prefix="/api/counciltax", tags=["council tax"])
DISTRICT = Query(..., description="Your district, e.g. worcester or malvern-hills.")


class EvidenceOut(BaseModel):
    source: str
    others: int
    strength: float
    reason: str
    year: int | None


class CaseOut(BaseModel):
    id: int
    rank: int
    account_ref: str
    property_ref: str
    score: float
    summary: str
    evidence: list[EvidenceOut]
    outcome: Outcome | None
    outcome_note: str
    outcome_by: str | None
    outcome_at: datetime | None


class ReviewOut(BaseModel):
    district: str
    review_id: int | None
    review_date: date | None
    run_by: str | None
    discounts: int
    cases: list[CaseOut]
    withheld: list[dict] = Field(default_factory=list)


class OutcomeIn(BaseModel):
    outcome: Outcome
    note: str = Field(default="", max_length=2000, description="Why; no names or identifiers.")


def case_out(case: DiscountCase, rank: int) -> CaseOut:
    return CaseOut(
        id=case.id,
        rank=rank,
        account_ref=case.account_ref,
        property_ref=case.property_ref,
        score=case.score,
        summary=case.summary,
        evidence=[EvidenceOut(**e) for e in case.evidence],
        outcome=case.outcome,
        outcome_note=case.outcome_note,
        outcome_by=case.outcome_by,
        outcome_at=case.outcome_at,
    )


def review_out(listed: service.CaseList, withheld: list[dict] | None = None) -> ReviewOut:
    review = listed.review
    return ReviewOut(
        district=listed.district,
        review_id=review.id if review else None,
        review_date=review.review_date if review else None,
        run_by=review.run_by if review else None,
        discounts=review.discounts if review else 0,
        cases=[case_out(c, rank) for rank, c in enumerate(listed.cases, start=1)],
        withheld=withheld or [],
    )


@router.get(
    "/review",
    scope=service.READ_SCOPE,
    response_model=ReviewOut,
    summary="Your district's cases from its latest review, strongest evidence first",
)
def cases(actor: ActorDep, session: SessionDep, district: str = DISTRICT):
    return review_out(service.cases(session, actor, district))


@router.get(
    "/review.csv",
    scope=service.READ_SCOPE,
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The same cases as CSV (the columns of `civicshare counciltax review --out`)",
)
def cases_csv(actor: ActorDep, session: SessionDep, district: str = DISTRICT):
    listed = service.cases(session, actor, district)
    text = csvsafe.rows_text(service.csv_rows(listed), header=service.CSV_HEADER)
    return Response(
        text,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="discount-review-{listed.district}.csv"'
        },
    )


@router.post(
    "/review",
    scope=service.REVIEW_SCOPE,
    response_model=ReviewOut,
    status_code=201,
    summary="Run the review for your district now (every source read through the gateway)",
)
def run_review(request: Request, actor: ActorDep, session: SessionDep, district: str = DISTRICT):
    done = service.review(session, request.app.state.settings, actor, district, via="api")
    session.commit()
    return review_out(service.cases(session, actor, done.review.district), done.withheld)


@router.post(
    "/cases/{case_id}/outcome",
    scope=service.REVIEW_SCOPE,
    response_model=CaseOut,
    summary="Record the outcome of one of your district's cases (audited)",
)
def record_outcome(case_id: int, body: OutcomeIn, actor: ActorDep, session: SessionDep):
    case = service.record_outcome(session, actor, case_id, body.outcome.value, body.note)
    session.commit()
    listed = service.cases(session, actor, case.district)
    rank = next((i for i, c in enumerate(listed.cases, start=1) if c.id == case.id), 0)
    return case_out(case, rank)
