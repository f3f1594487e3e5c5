"""The benefits of sharing in the browser: the month-by-month page for leadership (/benefits)
and an admin's form to change one time-saved assumption (/benefits/assumptions/NAME)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from civicshare.accounts.api import ActorDep
from civicshare.db import SessionDep
from civicshare.rights.benefits import service
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


def _months(value: str | None) -> int:
    try:
        return int(value or service.DEFAULT_MONTHS)
    except ValueError:
        raise service.BenefitsError(
            f"Months must be a whole number, not {value!r}.", field="months"
        ) from None


@router.get("/benefits")
def benefits_page(request: Request, actor: ActorDep, session: SessionDep):
    service.require_reader(actor)
    months = _months(request.query_params.get("months"))
    return render(
        request,
        "benefits/benefits.html",
        active_nav="benefits",
        report=service.report(session, months),
        figures=service.FIGURES,
        months=months,
        may_edit=service.may_edit(actor, request.app.state.settings),
    )


def _assumption_page(request, session, name, *, errors=None, values=None, status_code=200):
    found = {a.name: a for a in service.assumptions(session)}.get(name)
    if found is None:
        raise service.BenefitsError(f"There is no assumption {name!r}.", field="name", status=404)
    return render(
        request,
        "benefits/assumption.html",
        status_code=status_code,
        active_nav="benefits",
        assumption=found,
        figure=service.BY_NAME[name],
        errors=errors or {},
        values=values or {"minutes": str(found.minutes), "basis": found.basis},
    )


@router.get("/benefits/assumptions/{name}")
def assumption_page(name: str, request: Request, actor: ActorDep, session: SessionDep):
    service.require_editor(actor, request.app.state.settings)
    return _assumption_page(request, session, name)


@router.post("/benefits/assumptions/{name}")
def set_assumption(
    name: str, request: Request, actor: ActorDep, session: SessionDep, form: FormDep
):
    values = {"minutes": str(form.get("minutes") or ""), "basis": str(form.get("basis") or "")}
    try:
        service.set_assumption(
            session, request.app.state.settings, actor, name, values["minutes"], values["basis"]
        )
    except service.BenefitsError as error:
        if error.status != 422:
            raise
        session.rollback()
        return _assumption_page(
            request, session, name, errors=field_errors(error, "minutes"), values=values,
            status_code=error.status,
        )  # fmt: skip
    return RedirectResponse(f"/benefits#assumption-{name}", status_code=303)
