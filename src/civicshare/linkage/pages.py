"""The person index in the browser: runs and their reports, and clerical review.

For IG leads and admins of the partner that runs the gateway. A pair page decrypts the two
records for the reviewer only, through the same governed read as linkage, audited first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from civicshare.accounts.service import Actor
from civicshare.db import RowId, SessionDep
from civicshare.linkage import service
from civicshare.linkage.api import reviewer
from civicshare.linkage.models import ReviewItem
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "frame-ancestors 'none'"
)
BAR_WIDTH = 120  # px each side of the axis in the waterfall's bars


@router.get("/index")
def index_page(
    *,
    request: Request,
    actor: Actor = Depends(reviewer),
    session: SessionDep,
):
    return render(
        request,
        "linkage/index.html",
        active_nav="index",
        state=service.status(session, request.app.state.settings),
        runs=service.runs(session, 20),
    )


@router.get("/index/runs/{run_id}")
def run_page(
    *,
    request: Request,
    run_id: RowId,
    actor: Actor = Depends(reviewer),
    session: SessionDep,
):
    found = service.get_run(session, run_id)
    return render(
        request,
        "linkage/run.html",
        active_nav="index",
        run=found,
        facts=service.run_dict(found),
        has_report=bool(found.report),
    )


@router.get("/index/runs/{run_id}/report")
def run_report(
    *,
    run_id: RowId,
    actor: Actor = Depends(reviewer),
    session: SessionDep,
):
    """The linkage report as the report module renders it: a document of its own."""
    try:
        html = service.report_html(service.get_run(session, run_id))
    except service.NotFound as error:
        return HTMLResponse(str(error), status_code=404)
    if html is None:
        return HTMLResponse("This run has no report.", status_code=404)
    # The report styles itself inline and runs no script: allow exactly that.
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/index/review")
def queue_page(
    *,
    request: Request,
    decided: int | None = Query(None),
    actor: Actor = Depends(reviewer),
    session: SessionDep,
):
    return render(
        request,
        "linkage/queue.html",
        active_nav="index",
        items=service.queue(session),
        decided=session.get(ReviewItem, decided) if decided else None,
    )


def _bars(rows: list[dict]) -> None:
    """Geometry of each waterfall bar (SVG attributes: the CSP forbids inline styles)."""
    scale = max((abs(r["weight"]) for r in rows), default=1.0) or 1.0
    for row in rows:
        length = round(abs(row["weight"]) / scale * BAR_WIDTH, 1)
        row["bar_x"] = BAR_WIDTH if row["weight"] >= 0 else BAR_WIDTH - length
        row["bar_width"] = max(length, 1)
        row["towards"] = _direction(row["weight"])


# Below this (in bits, a factor of about 1.03) a comparison moves the probability by nothing a
# reviewer could see: "neutral", not "towards a match" (a fixed-neutral level weighs 0).
NEUTRAL_WEIGHT = 0.05


def _direction(weight: float) -> str:
    if abs(weight) < NEUTRAL_WEIGHT:
        return "neutral"
    return "towards a match" if weight > 0 else "away from a match"


def _pair(request, actor, session, item_id, *, errors=None, form=None, status_code=200):
    pair = service.review_pair(session, request.app.state.settings, actor, item_id)
    _bars(pair["waterfall"])
    return render(
        request,
        "linkage/pair.html",
        status_code=status_code,
        active_nav="index",
        pair=pair,
        item=pair["item"],
        bar_width=BAR_WIDTH,
        errors=errors or {},
        form=form or {},
    )


@router.get("/index/review/{item_id}")
def pair_page(
    *,
    request: Request,
    item_id: RowId,
    actor: Actor = Depends(reviewer),
    session: SessionDep,
):
    return _pair(request, actor, session, item_id)


@router.post("/index/review/{item_id}")
def decide(
    *,
    request: Request,
    item_id: RowId,
    decision: str = Form(""),
    reason: str = Form(""),
    actor: Actor = Depends(reviewer),
    session: SessionDep,
):
    if decision not in ("accept", "reject"):
        errors = {"decision": "Select whether these records are the same person"}
        return _pair(
            request, actor, session, item_id, errors=errors, form={"reason": reason},
            status_code=422,
        )  # fmt: skip
    try:
        service.decide(
            session,
            request.app.state.settings,
            actor,
            item_id,
            accept=decision == "accept",
            reason=reason,
        )
    except service.NotFound:
        raise  # the error page (civicshare.errors), not the form again
    except service.LinkageError as error:
        return _pair(
            request, actor, session, item_id, errors={"decision": str(error)},
            form={"reason": reason}, status_code=409,
        )  # fmt: skip
    return RedirectResponse(f"/index/review?decided={item_id}", status_code=303)
