"""Public pages of the partnership's gateway."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from civicshare.accounts.api import optional_actor
from civicshare.datasets import service as datasets
from civicshare.db import SessionDep
from civicshare.partners import service as partners
from civicshare.partners.models import PartnerType
from civicshare.web.templating import error_page, render  # noqa: F401  (re-exported)

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(
    *,
    request: Request,
    actor=Depends(optional_actor),
    session: SessionDep,
):
    members = partners.list_partners(session)
    holdings = datasets.holdings_by_partner(session)
    rows = [(partner, holdings.get(partner.id)) for partner in members]
    by_type = Counter(partner.type for partner in members)
    return render(
        request,
        "home.html",
        partners=rows,
        partner_count=len(members),
        partner_types=[PartnerType(t).counted(n) for t, n in sorted(by_type.items())],
        dataset_count=sum(h.datasets for h in holdings.values()),
        row_count=sum(h.rows for h in holdings.values()),
    )


@router.get("/accessibility", response_class=HTMLResponse)
def accessibility(request: Request, actor=Depends(optional_actor)):
    return render(request, "accessibility.html")
