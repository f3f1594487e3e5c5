"""Datasets in the browser: the list, one dataset with its contract and versions, uploads."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from civicshare.accounts.api import ActorDep
from civicshare.dataplane import ingest
from civicshare.datasets import service
from civicshare.db import SessionDep
from civicshare.web.forms import FormDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/datasets")
def datasets_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    rows = service.list_datasets(session)
    by_partner: dict[str, list] = {}
    for row in rows:
        by_partner.setdefault(row.partner_name, []).append(row)
    return render(request, "datasets/list.html", active_nav="datasets", by_partner=by_partner)


def _detail(request, session, actor, partner: str, dataset: str, **extra):
    found = service.require_dataset(session, partner, dataset)
    return render(
        request,
        "datasets/show.html",
        status_code=extra.pop("status_code", 200),
        active_nav="datasets",
        partner_key=partner,
        dataset=found,
        contract=service.current_contract(session, found),
        snapshots=service.snapshots_of(session, found),
        ingests=service.ingests_of(session, found, limit=10),
        may_push=service.may_push(actor, partner),
        **extra,
    )


@router.get("/datasets/{partner}/{dataset}")
def dataset_page(
    partner: str,
    dataset: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _detail(request, session, actor, partner, dataset)


@router.post("/datasets/{partner}/{dataset}/upload")
def upload(
    partner: str,
    dataset: str,
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    if not service.may_push(actor, partner):
        raise HTTPException(
            403,
            f"Acting for {actor.partner_name}, you cannot push data for {partner}: only a data "
            "provider or admin of that partner can.",
        )
    upload_file = form.get("file")
    if upload_file is None or not getattr(upload_file, "filename", ""):
        return _detail(
            request,
            session,
            actor,
            partner,
            dataset,
            status_code=422,
            errors={"file": "Select a CSV, XLSX or Parquet file"},
        )
    settings = request.app.state.settings
    spool = ingest.EncryptedSpool.in_staging(settings)
    try:
        while chunk := upload_file.file.read(1 << 20):
            spool.append(chunk)
        upload_file.file.close()
        spool.finish()
        result = service.push(
            session,
            settings,
            partner,
            dataset,
            spool,
            file_name=upload_file.filename,
            actor=actor,
        )
    finally:
        spool.discard()
    return _detail(
        request,
        session,
        actor,
        partner,
        dataset,
        status_code=200 if result.outcome == "accepted" else 422,
        report=result.report,
    )
