"""The audit log in the browser: IG leads browse, filter, export and verify it."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from civicshare import csvsafe
from civicshare.accounts.service import Actor
from civicshare.audit import browse
from civicshare.audit import service as audit
from civicshare.audit.api import audit_filter, ig_lead
from civicshare.audit.models import AuditRecord
from civicshare.db import SessionDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


@router.get("/audit")
def audit_page(
    *,
    request: Request,
    wanted: browse.AuditFilter = Depends(audit_filter),
    page: int = Query(1, ge=1),
    verify: bool = Query(False),
    actor: Actor = Depends(ig_lead),
    session: SessionDep,
):
    host = request.app.state.settings.host_partner
    rows, total = browse.search(session, actor, host, wanted, page=page, per_page=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    args = wanted.query_args()

    def page_link(number: int) -> str:
        return "/audit?" + urlencode({**args, "page": number})

    return render(
        request,
        "audit/list.html",
        active_nav="audit",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        previous_href=page_link(page - 1) if page > 1 else None,
        next_href=page_link(page + 1) if page < pages else None,
        wanted=wanted,
        actions=browse.actions(session),
        everything=actor.partner_key == host,
        csv_href="/audit.csv" + ("?" + urlencode(args) if args else ""),
        verify_href="/audit?" + urlencode({**args, "verify": "true"}),
        verified=audit.verify(session) if verify else None,
        london=_london,
    )


def _london(moment: datetime) -> str:
    """Stored in UTC, shown in Europe/London."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(browse.LONDON).strftime("%-d %b %Y %H:%M:%S")


@router.get("/audit.csv")
def audit_csv(
    *,
    request: Request,
    wanted: browse.AuditFilter = Depends(audit_filter),
    actor: Actor = Depends(ig_lead),
    session: SessionDep,
):
    host = request.app.state.settings.host_partner
    query = browse.filtered(session, actor, host, wanted).order_by(AuditRecord.seq)
    rows = [browse.export_row(entry) for entry in session.scalars(query)]

    return StreamingResponse(
        csvsafe.iter_lines(rows, browse.EXPORT_COLUMNS),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
