"""The audit log over HTTP, for IG leads and their automation (token scope audit:read)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from civicshare.accounts.api import ApiRouter, require_roles
from civicshare.accounts.service import Actor
from civicshare.audit import browse
from civicshare.audit import service as audit
from civicshare.audit.models import OUTCOMES
from civicshare.db import SessionDep
from civicshare.partners.models import Role

router = ApiRouter(prefix="/api/audit", tags=["audit"])
ig_lead = require_roles(Role.ig_lead)


class RecordOut(BaseModel):
    id: int
    seq: int
    at: str = Field(description="UTC, ISO 8601.")
    action: str
    entity_type: str
    entity_id: str | None
    actor_label: str
    actor_partner: str | None
    membership_id: int | None
    reason: str
    purpose: str | None
    agreement_ref: str | None
    agreement_version: int | None
    dataset: str | None
    columns: list[str] | None
    row_count: int | None
    output_sha256: str | None
    outcome: str | None
    details: dict[str, Any]
    prev_hash: str
    record_hash: str


class RecordsOut(BaseModel):
    total: int
    page: int
    per_page: int
    records: list[RecordOut]


class ProblemOut(BaseModel):
    kind: str = Field(description="edited, deleted, inserted, reordered, truncated, ...")
    message: str
    seq: int | None
    id: int | None


class VerifyOut(BaseModel):
    records: int
    checkpoints: int
    last_checkpoint_seq: int | None
    last_seq: int
    seconds: float
    problem: ProblemOut | None
    warnings: list[str]
    intact: bool
    message: str


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            422, f"{name} must be a date such as 2026-11-23, not {value!r}."
        ) from None


def audit_filter(
    since: str | None = Query(None, description="From this day (Europe/London), inclusive."),
    until: str | None = Query(None, description="To this day (Europe/London), inclusive."),
    action: str | None = Query(None, description="e.g. share_decided, agreement_approved."),
    partner: str | None = Query(None, description="Partner key: the actor's or the provider's."),
    agreement: str | None = Query(None, description="Agreement reference, e.g. ISA-0001."),
    dataset: str | None = Query(None, description="partner-key/dataset-name"),
    outcome: str | None = Query(None, description="allowed or denied"),
) -> browse.AuditFilter:
    """The filters, from a query string; empty fields (as a GET form sends them) mean any."""
    if outcome and outcome not in OUTCOMES:
        raise HTTPException(422, f"outcome must be allowed or denied, not {outcome!r}.")
    return browse.AuditFilter(
        _day("since", since),
        _day("until", until),
        *(value.strip() or None if value else None for value in (action, partner, agreement)),
        dataset.strip() or None if dataset else None,
        outcome or None,
    )


@router.get(
    "",
    scope="audit:read",
    response_model=RecordsOut,
    summary="Audit records you may see, newest first",
)
def list_records(
    *,
    request: Request,
    wanted: browse.AuditFilter = Depends(audit_filter),
    page: int = Query(1, ge=1),
    per_page: int = Query(100, ge=1, le=1000),
    actor: Actor = Depends(ig_lead),
    session: SessionDep,
) -> dict[str, Any]:
    host = request.app.state.settings.host_partner
    rows, total = browse.search(session, actor, host, wanted, page=page, per_page=per_page)
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "records": [browse.as_dict(row) for row in rows],
    }


@router.get(
    "/verify",
    scope="audit:read",
    response_model=VerifyOut,
    summary="Verify the whole chain and its signed checkpoints now",
)
def verify_now(
    *,
    actor: Actor = Depends(ig_lead),
    session: SessionDep,
) -> dict[str, Any]:
    return audit.verify(session).as_dict()
