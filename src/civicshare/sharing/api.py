"""Shared data over HTTP. Every route here returns dataset rows, and every one goes through
delivery.share() (decide, audit, execute, audit, receipt): there is no other door."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import SessionDep
from civicshare.sharing.delivery import Delivery, share
from civicshare.sharing.service import request_from_params

router = ApiRouter(prefix="/api/share", tags=["sharing"])
MAX_PAGE_SIZE = 5000
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class PullOut(BaseModel):
    """One page of shared rows (format=json), with the evidence of the share."""

    agreement: str = Field(description="The agreement the data was shared under.")
    agreement_version: int
    snapshot_version: int
    receipt: int = Field(description="The receipt of this share.")
    output_sha256: str = Field(
        description="SHA-256 of every delivered row as an Arrow IPC stream (for format=csv or "
        "parquet: of the file as sent, in the X-Civicshare-Output-SHA256 header)."
    )
    columns: list[str]
    total_rows: int
    page: int
    page_size: int
    pages: int
    rows: list[dict[str, Any]]


# The rows as a file instead (format=csv or parquet), every page at once.
PULL_FILES = {
    200: {
        "content": {
            MEDIA_TYPES["csv"]: {"schema": {"type": "string"}},
            MEDIA_TYPES["parquet"]: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "The rows as JSON, CSV or Parquet (format=).",
    }
}


def delivery_headers(delivery: Delivery) -> dict[str, str]:
    return {
        "X-Civicshare-Agreement": f"{delivery.decision.agreement} v{delivery.decision.version}",
        "X-Civicshare-Receipt": str(delivery.receipt_id),
        "X-Civicshare-Output-SHA256": delivery.output_sha256,
    }


@router.get(
    "/{provider}/{dataset}",
    scope="share:read",
    response_model=PullOut,
    responses=PULL_FILES,
    summary="Pull shared data under an active agreement",
    description="Rows (or, with group_by, suppressed counts) of a partner's dataset, exactly as "
    "an active agreement grants them to the partner you act for. The purpose is the code of one "
    "of the agreement's permitted purposes (any other is refused, with the list); it and the "
    "optional note are recorded with every request, allowed or denied.",
)
def pull(
    *,
    request: Request,
    provider: str,
    dataset: str,
    purpose: str = Query(
        ...,
        min_length=1,
        description="The code of one of the agreement's permitted purposes, e.g. "
        "discharge-planning.",
    ),
    note: str | None = Query(
        None,
        max_length=500,
        description="Optional: your own words about this request, kept in the audit log. No "
        "NHS numbers or postcodes.",
    ),
    columns: str | None = Query(None, description="Comma-separated; default every granted column."),
    agreement: str | None = Query(None, description="Agreement reference, if several apply."),
    group_by: str | None = Query(None, description="Comma-separated: counts instead of rows."),
    format: str = Query("json", pattern="^(json|csv|parquet)$"),
    page: int = Query(1, ge=1),
    page_size: int = Query(1000, ge=1, le=MAX_PAGE_SIZE),
    actor: ActorDep,
    session: SessionDep,
):
    ask = request_from_params(
        actor,
        purpose=purpose,
        provider=provider,
        dataset=dataset,
        columns=columns,
        agreement=agreement,
        group_by=group_by,
        note=note,
    )
    delivery = share(session, request.app.state.settings, ask, via="api", output_format=format)
    headers = delivery_headers(delivery)
    if format != "json":
        extension = "csv" if format == "csv" else "parquet"
        headers["Content-Disposition"] = f'attachment; filename="{provider}-{dataset}.{extension}"'
        return Response(delivery.content, media_type=MEDIA_TYPES[format], headers=headers)
    total = delivery.table.num_rows
    rows = delivery.table.slice((page - 1) * page_size, page_size).to_pylist()
    body = {
        "agreement": delivery.decision.agreement,
        "agreement_version": delivery.decision.version,
        "snapshot_version": delivery.snapshot_version,
        "receipt": delivery.receipt_id,
        "output_sha256": delivery.output_sha256,
        "columns": delivery.table.column_names,
        "total_rows": total,
        "page": page,
        "page_size": page_size,
        "pages": max(1, -(-total // page_size)),
        "rows": rows,
    }
    return JSONResponse(jsonable_encoder(body), headers=headers)
