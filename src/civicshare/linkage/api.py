"""The person index over HTTP: runs, status and the clerical review queue (JSON).

For IG leads and admins of the partner that runs the gateway. The queue gives weights and
record ids, never values; the records side by side are shown only in the browser, audited."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.accounts.service import Actor
from civicshare.db import RowId, SessionDep, Timestamp
from civicshare.linkage import service

router = ApiRouter(prefix="/api/index", tags=["person index"])


# -- shapes ---------------------------------------------------------------------------------


class RunOut(BaseModel):
    id: int
    status: str
    started_at: Timestamp
    finished_at: Timestamp | None
    started_by: str
    snapshots: list[Any]
    trained: bool
    model_run: int | None = Field(description="The run whose model was used.")
    threshold: float | None = Field(description="Match probability at which records link.")
    review_lower: float | None
    new_records: int
    existing_records: int
    pairs: int
    links: int
    review_items: int
    persons: int
    merges: int
    seconds: float | None
    mapping: str | None


class RunWithReportOut(RunOut):
    report: dict[str, Any] | None


class SourceOut(BaseModel):
    source: str
    snapshot_version: int
    records: int
    run: int | None


class StatusOut(BaseModel):
    persons: int
    records: int
    open_reviews: int
    model_run: int | None
    pending: list[str] = Field(description="Current snapshots not yet linked.")
    sources: list[SourceOut]
    last_run: RunOut | None


class RecordRef(BaseModel):
    source: str
    record_id: str
    snapshot_version: int


class WaterfallStep(BaseModel):
    model_config = ConfigDict(extra="allow")

    comparison: str
    label: str
    weight: float
    cumulative: float
    percent: float
    level: Any


class ReviewItemOut(BaseModel):
    id: int
    run: int
    status: str
    left: RecordRef
    right: RecordRef
    match_weight: float
    match_probability: float
    waterfall: list[WaterfallStep]


async def reviewer(request: Request, actor: ActorDep) -> Actor:
    if not service.may_review(actor, request.app.state.settings):
        raise HTTPException(
            403,
            "The person index is for IG leads and admins of the partner that runs the gateway, "
            "acting for it.",
        )
    return actor


@router.get(
    "/status",
    scope="index:read",
    response_model=StatusOut,
    summary="People and records in the person index, and what waits",
)
def index_status(
    *,
    request: Request,
    _actor: Actor = Depends(reviewer),
    session: SessionDep,
) -> dict[str, Any]:
    state = service.status(session, request.app.state.settings)
    return jsonable_encoder(
        {
            "persons": state.persons,
            "records": state.records,
            "open_reviews": state.open_reviews,
            "model_run": state.model_run,
            "pending": state.pending,
            "sources": [
                {"source": s.source, "snapshot_version": s.snapshot_version,
                 "records": s.record_count, "run": s.run_id}
                for s in state.sources
            ],
            "last_run": service.run_dict(state.last_run) if state.last_run else None,
        }
    )  # fmt: skip


@router.get(
    "/runs", scope="index:read", response_model=list[RunOut], summary="Linkage runs, newest first"
)
def list_runs(
    *,
    limit: int = Query(50, ge=1, le=500),
    _actor: Actor = Depends(reviewer),
    session: SessionDep,
) -> list[dict[str, Any]]:
    return jsonable_encoder([service.run_dict(r) for r in service.runs(session, limit)])


@router.get(
    "/runs/{run_id}",
    scope="index:read",
    response_model=RunWithReportOut,
    summary="One linkage run with its report",
)
def get_run(
    *,
    run_id: RowId,
    _actor: Actor = Depends(reviewer),
    session: SessionDep,
) -> dict[str, Any]:
    found = service.get_run(session, run_id)
    return jsonable_encoder({**service.run_dict(found), "report": found.report})


@router.get(
    "/review",
    scope="index:read",
    response_model=list[ReviewItemOut],
    summary="The clerical review queue: pairs in the grey zone",
)
def review_queue(
    *,
    status: str = Query("open", description="open, accepted, rejected or superseded"),
    limit: int = Query(200, ge=1, le=1000),
    _actor: Actor = Depends(reviewer),
    session: SessionDep,
) -> list[dict[str, Any]]:
    items = service.queue(session, status, limit)
    return jsonable_encoder([service.item_dict(i) for i in items])


@router.get(
    "/review/{item_id}",
    scope="index:read",
    response_model=ReviewItemOut,
    summary="One pair: ids, weights and its waterfall",
)
def review_item(
    *,
    item_id: RowId,
    _actor: Actor = Depends(reviewer),
    session: SessionDep,
) -> dict[str, Any]:
    return jsonable_encoder(service.item_dict(service.get_item(session, item_id)))


class Decision(BaseModel):
    decision: str = Field(pattern="^(accept|reject)$", description="accept or reject")
    reason: str = Field("", max_length=2000)


@router.post(
    "/review/{item_id}",
    scope="index:review",
    response_model=ReviewItemOut,
    summary="Accept (one person) or reject (never link) a pair",
)
def decide(
    *,
    item_id: RowId,
    body: Decision,
    request: Request,
    actor: Actor = Depends(reviewer),
    session: SessionDep,
) -> dict[str, Any]:
    item = service.decide(
        session,
        request.app.state.settings,
        actor,
        item_id,
        accept=body.decision == "accept",
        reason=body.reason,
    )
    return jsonable_encoder(service.item_dict(item))
