"""The single person discount review in the browser: choose your district, run the review,
see the ranked cases (evidence summaries only), record an outcome per case, download CSV."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from civicshare import csvsafe
from civicshare.accounts.api import ActorDep
from civicshare.counciltax import service
from civicshare.counciltax.errors import CouncilTaxError
from civicshare.counciltax.models import Outcome
from civicshare.db import SessionDep
from civicshare.sharing.delivery import Denied
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import environment, render

router = APIRouter(include_in_schema=False)
# Who sees "Discount review" in the navigation: analysts and IG leads of a district council.
environment.globals["discount_review_partners"] = frozenset(service.DISTRICTS.values())


def _page(request, actor, session, district: str, *, errors=None, form=None, status_code=200):
    districts = service.reviewable_districts(actor)
    listed = service.cases(session, actor, district) if district else None
    return render(
        request,
        "counciltax/review.html",
        status_code=status_code,
        active_nav="counciltax",
        districts=districts,
        district=district,
        listed=listed,
        outcomes=list(Outcome),
        outcome_labels={o.value: o.label for o in Outcome},
        errors=errors or {},
        form=form or {},
    )


@router.get("/counciltax/review")
def review_page(request: Request, actor: ActorDep, session: SessionDep, district: str = ""):
    districts = service.reviewable_districts(actor)
    if not district and len(districts) == 1:
        district = districts[0]
    if not districts and not district:
        raise service.NotAllowed(
            "The single person discount review is for analysts and IG leads of a district "
            f"council; you act for {actor.partner_name}."
        )
    return _page(request, actor, session, district)


@router.get("/counciltax/review.csv")
def review_csv(actor: ActorDep, session: SessionDep, district: str):
    listed = service.cases(session, actor, district)
    return Response(
        csvsafe.rows_text(service.csv_rows(listed), header=service.CSV_HEADER),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="discount-review-{listed.district}.csv"'
        },
    )


@router.post("/counciltax/review")
def run_review(request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    district = str(form.get("district") or "")
    try:
        service.review(session, request.app.state.settings, actor, district, via="web")
    except Denied as error:
        session.rollback()
        return _page(request, actor, session, district, errors={"review": error.message},
                     status_code=error.status)  # fmt: skip
    session.commit()
    return RedirectResponse(f"/counciltax/review?district={district}", status_code=303)


@router.post("/counciltax/cases/{case_id}/outcome")
def record_outcome(
    case_id: int, request: Request, actor: ActorDep, session: SessionDep, form: FormDep
):
    case = service.get_case(session, actor, case_id)
    outcome, note = str(form.get("outcome") or ""), str(form.get("note") or "")
    try:
        service.record_outcome(session, actor, case_id, outcome, note)
    except CouncilTaxError as error:
        session.rollback()
        errors = {f"{case_id}-{k}": v for k, v in field_errors(error, "outcome").items()}
        return _page(request, actor, session, case.district, errors=errors,
                     form={"case": case_id, "outcome": outcome, "note": note},
                     status_code=error.status)  # fmt: skip
    session.commit()
    return RedirectResponse(
        f"/counciltax/review?district={case.district}#case-{case_id}", status_code=303
    )
