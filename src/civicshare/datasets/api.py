"""The datasets API: contracts and streamed snapshot uploads."""

from __future__ import annotations

from typing import Any

from fastapi import Body, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.dataplane import ingest
from civicshare.datasets import service
from civicshare.datasets.contracts import ContractError, FileFormat, parse_contract
from civicshare.db import SessionDep, Timestamp

router = ApiRouter(prefix="/api/datasets", tags=["datasets"])

MAX_UPLOAD_BYTES = 20 << 30


class DatasetOut(BaseModel):
    partner: str
    name: str
    title: str
    has_contract: bool
    current_version: int | None
    rows: int
    quarantined: int
    versions: int


class ContractOut(BaseModel):
    partner: str
    name: str
    contract_version: int


class SnapshotOut(BaseModel):
    version: int
    status: str
    rows: int
    quarantined: int
    file_sha256: str
    pseudonymisation_key_version: int
    created_at: Timestamp


class DatasetDetailOut(BaseModel):
    partner: str
    name: str
    title: str
    contract: dict[str, Any] | None = Field(description="The current contract, if any.")
    snapshots: list[SnapshotOut]


class ProblemCount(BaseModel):
    column: str | None
    code: str
    count: int


class PushReport(BaseModel):
    """The validation report of a pushed file (more members may follow)."""

    model_config = ConfigDict(extra="allow")

    outcome: str = Field(description="accepted or rejected")
    reasons: list[str] = Field(description="Why it was rejected.")
    file_name: str
    file_format: str
    file_sha256: str
    policy: str
    duplicate_policy: str
    rows_duplicated: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_with_problems: int
    problem_count: int
    problems_shown: int
    problem_counts: list[ProblemCount]
    problems: list[dict[str, Any]]
    pseudonymisation_key_version: int | None
    snapshot_version: int | None = Field(None, description="The new version, when accepted.")


def _dataset_out(row: service.DatasetRow) -> dict[str, Any]:
    return {
        "partner": row.partner_key,
        "name": row.dataset.name,
        "title": row.dataset.title,
        "has_contract": row.has_contract,
        "current_version": row.current_version,
        "rows": row.rows,
        "quarantined": row.quarantined,
        "versions": row.versions,
    }


@router.get(
    "",
    scope="datasets:read",
    response_model=list[DatasetOut],
    summary="Every dataset, its current version and rows",
)
def list_datasets(
    *,
    partner: str | None = None,
    actor: ActorDep,
    session: SessionDep,
) -> list[dict]:
    return [_dataset_out(row) for row in service.list_datasets(session, partner)]


@router.post(
    "",
    scope="datasets:write",
    response_model=ContractOut,
    status_code=201,
    summary="Register or revise a dataset's contract",
)
def register_contract(
    *,
    contract: dict = Body(..., description="The contract (see docs/datasets.md)."),
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    try:
        parsed = parse_contract(contract)
    except ContractError as error:
        raise HTTPException(422, str(error)) from None
    if not service.may_push(actor, parsed.partner):
        raise HTTPException(
            403,
            f"Acting for {actor.partner_name}, you cannot register datasets of {parsed.partner}: "
            "only a data provider or admin of that partner can.",
        )
    try:
        row = service.register_contract(session, parsed, actor=actor)
    except service.DatasetError as error:
        raise HTTPException(422, str(error)) from None
    return {"partner": parsed.partner, "name": parsed.name, "contract_version": row.version}


@router.get(
    "/{partner}/{dataset}",
    scope="datasets:read",
    response_model=DatasetDetailOut,
    summary="A dataset's contract and versions",
)
def show_dataset(
    partner: str,
    dataset: str,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    found = service.get_dataset(session, partner, dataset)
    if found is None:
        raise HTTPException(404, f"{partner} has no dataset {dataset!r}.")
    contract = service.current_contract(session, found)
    return {
        "partner": partner,
        "name": dataset,
        "title": found.title,
        "contract": contract.model_dump(mode="json") if contract else None,
        "snapshots": [
            {
                "version": s.version,
                "status": s.status.value,
                "rows": s.row_count,
                "quarantined": s.quarantined_count,
                "file_sha256": s.file_sha256,
                "pseudonymisation_key_version": s.pseudonymisation_key_version,
                "created_at": s.created_at.isoformat(),
            }
            for s in service.snapshots_of(session, found)
        ],
    }


@router.put(
    "/{partner}/{dataset}/snapshots",
    scope="datasets:write",
    response_model=PushReport,
    responses={422: {"model": PushReport, "description": "Rejected: no new version."}},
    summary="Push a file (streamed request body) as the dataset's next snapshot",
    description="Send the file as the raw request body (not multipart). `filename` (or "
    "`format`) says whether it is CSV, XLSX or Parquet. The body is spooled to disk encrypted "
    "under a key held only in memory, then validated; the response is the validation report. "
    "200 when accepted, 422 when rejected (no new version).",
)
async def push_snapshot(
    *,
    partner: str,
    dataset: str,
    request: Request,
    filename: str | None = Query(None, description="The file's name, e.g. admissions.csv."),
    format: FileFormat | None = Query(None, description="csv, xlsx or parquet."),
    actor: ActorDep,
    session: SessionDep,
):
    from fastapi.responses import JSONResponse

    if not service.may_push(actor, partner):
        raise HTTPException(
            403,
            f"Acting for {actor.partner_name}, you cannot push data for {partner}: only a data "
            "provider or admin of that partner can.",
        )
    settings = request.app.state.settings
    name = filename or f"upload.{(format or FileFormat.csv).value}"
    if format is not None:
        name = f"{name.rsplit('.', 1)[0]}.{format.value}"
    # The body is read on the event loop; encrypting and writing it, and everything after,
    # happen in worker threads, a mebibyte at a time.
    spool = await run_in_threadpool(ingest.EncryptedSpool.in_staging, settings)
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if spool.size() + len(pending) > MAX_UPLOAD_BYTES:
                raise HTTPException(413, "The file is larger than the gateway accepts.")
            if len(pending) >= SPOOL_BATCH_BYTES:
                await run_in_threadpool(spool.append, bytes(pending))
                pending.clear()
        await run_in_threadpool(_finish, spool, bytes(pending))
        try:
            result = await run_in_threadpool(
                service.push,
                session,
                settings,
                partner,
                dataset,
                spool,
                file_name=name,
                actor=actor,
            )
        except service.DatasetError as error:
            raise HTTPException(404, str(error)) from None
    finally:
        await run_in_threadpool(spool.discard)
    return JSONResponse(result.report, status_code=200 if result.outcome == "accepted" else 422)


SPOOL_BATCH_BYTES = 1 << 20


def _finish(spool: ingest.EncryptedSpool, tail: bytes) -> None:
    if tail:
        spool.append(tail)
    spool.finish()
