"""Shared data in the browser: what the acting membership may receive, and downloads.

The download route returns dataset rows, so it goes through delivery.share() like the API."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.api import ActorDep
from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.datasets import service as datasets
from civicshare.db import SessionDep
from civicshare.partners.models import Role
from civicshare.sharing.api import MEDIA_TYPES, delivery_headers
from civicshare.sharing.delivery import Denied, share
from civicshare.sharing.models import Receipt
from civicshare.sharing.service import ShareRequest, decide, governance_read
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


def receivable(session: Session, actor: Actor) -> list[dict]:
    """Each (agreement, provider, dataset) the actor's partner receives, with its columns, and
    whether this person may download it here: `refusal` is None when decide() would allow the
    download the page's form asks for, else why not. An emergency agreement's data is never
    downloaded here: it flows only inside an incident, to responders (`emergency`)."""
    offers = {}
    for version in agreements.active_versions(session):
        party = version.party(actor.partner_id)
        if party is None or not party.role.receives:
            continue
        for item in version.shared_items:
            key = (version.agreement.reference, item.provider.key, item.dataset)
            offer = offers.setdefault(key, {
                "agreement": version.agreement.reference, "version": version.number,
                "title": version.title, "provider": item.provider, "dataset": item.dataset,
                "columns": [], "purposes": list(version.purposes or []),
                "emergency": version.emergency,
            })  # fmt: skip
            offer["columns"].append(item)
    with governance_read(session):
        for offer in offers.values():
            known = datasets.get_dataset(session, offer["provider"].key, offer["dataset"])
            offer["dataset_title"] = known.title if known else offer["dataset"]
            offer["refusal"] = download_refusal(session, actor, offer)
    return list(offers.values())


def download_refusal(session: Session, actor: Actor, offer: dict) -> str | None:
    """Why `actor` may not download `offer` from this page (outside any incident), or None.

    decide() is asked about the request the offer's form sends, naming the agreement and its
    first permitted purpose (any of them is decided alike); nothing is read or audited."""
    purposes = offer["purposes"]
    probe = ShareRequest(
        actor=actor,
        purpose=purposes[0]["code"] if purposes else "",
        provider=offer["provider"].key,
        dataset=offer["dataset"],
        agreement=offer["agreement"],
    )
    decision = decide(session, probe)
    if decision.allowed:
        if datasets.current_snapshot(session, offer["provider"].key, offer["dataset"]) is None:
            return f"{offer['provider'].name} has not pushed {offer['dataset']} yet."
        return None
    if offer["emergency"]:
        return (
            f"{offer['agreement']} is an emergency agreement: its data is available only inside "
            "an incident, to responders."
        )
    return decision.reason


def _page(request, actor, session, *, errors=None, form=None, status_code=200):
    receipts = session.scalars(
        select(Receipt)
        .where(Receipt.recipient == actor.partner_key)
        .order_by(Receipt.id.desc())
        .limit(20)
    ).all()
    return render(
        request,
        "sharing/index.html",
        status_code=status_code,
        active_nav="share",
        offers=receivable(session, actor),
        is_responder=actor.has_role(Role.responder),
        receipts=receipts,
        errors=errors or {},
        form=form or {},
    )


@router.get("/share")
def share_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _page(request, actor, session)


@router.post("/share/{provider}/{dataset}")
def download(
    *,
    request: Request,
    provider: str,
    dataset: str,
    agreement: str = Form(...),
    purpose: str = Form(""),
    note: str = Form(""),
    output_format: str = Form("csv"),
    actor: ActorDep,
    session: SessionDep,
):
    field = f"purpose-{agreement}-{provider}-{dataset}"
    form = {"field": field, "purpose": purpose, "note": note}
    if output_format not in MEDIA_TYPES:
        output_format = "csv"
    ask = ShareRequest(
        actor=actor,
        purpose=purpose,
        provider=provider,
        dataset=dataset,
        agreement=agreement,
        note=note.strip(),
    )
    try:
        delivery = share(
            session, request.app.state.settings, ask, via="web", output_format=output_format
        )
    except Denied as error:
        message = error.decision.reason
        if error.status == 422:
            form["purpose"] = form["note"] = ""  # not shown back: the page is not to echo it
        return _page(
            request,
            actor,
            session,
            errors={field: message},
            form=form,
            status_code=error.status,
        )
    headers = delivery_headers(delivery)
    headers["Content-Disposition"] = f'attachment; filename="{provider}-{dataset}.{output_format}"'
    return Response(delivery.content, media_type=MEDIA_TYPES[output_format], headers=headers)
